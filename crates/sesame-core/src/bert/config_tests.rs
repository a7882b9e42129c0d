//! Tests of `BertConfig`: reading Hugging Face configs of each family, and the values refused.

use super::*;

const MINILM: &str = r#"{"architectures":["BertModel"],"attention_probs_dropout_prob":0.1,
    "hidden_act":"gelu","hidden_dropout_prob":0.1,"hidden_size":384,"initializer_range":0.02,
    "intermediate_size":1536,"layer_norm_eps":1e-12,"max_position_embeddings":512,"model_type":"bert",
    "num_attention_heads":12,"num_hidden_layers":6,"pad_token_id":0,"position_embedding_type":"absolute",
    "transformers_version":"4.8.2","type_vocab_size":2,"use_cache":true,"vocab_size":30522}"#;

#[test]
fn reads_hugging_face_config_and_ignores_unknown_fields() {
    let c = BertConfig::from_json_str(MINILM).expect("valid config");
    assert_eq!(c, BertConfig::minilm_l6());
    assert_eq!(c.head_size(), 32);
}

#[test]
fn missing_field_is_named() {
    let text = MINILM.replace("\"hidden_size\":384,", "");
    let err = BertConfig::from_json_str(&text).unwrap_err().to_string();
    assert!(err.contains("missing field `hidden_size`"), "{err}");
}

#[test]
fn indivisible_heads_are_rejected() {
    let text = MINILM.replace("\"num_attention_heads\":12", "\"num_attention_heads\":5");
    let err = BertConfig::from_json_str(&text).unwrap_err().to_string();
    assert!(err.contains("not divisible"), "{err}");
}

#[test]
fn unsupported_model_type_is_named() {
    let text = MINILM.replace("\"model_type\":\"bert\"", "\"model_type\":\"funnel\"");
    let err = BertConfig::from_json_str(&text).unwrap_err().to_string();
    assert!(
        err.contains("model_type \"funnel\" is not supported; sesame reads bert, roberta"),
        "{err}"
    );
    // ModernBERT and DeBERTa have configs of their own, which the message names.
    for (model_type, own) in [
        ("modernbert", "ModernBertConfig"),
        ("deberta-v2", "DebertaV2Config"),
    ] {
        let text = MINILM.replace(
            "\"model_type\":\"bert\"",
            &format!("\"model_type\":\"{model_type}\""),
        );
        let err = BertConfig::from_json_str(&text).unwrap_err().to_string();
        assert!(
            err.contains(&format!("\"{model_type}\" is not a BERT-family encoder"))
                && err.contains(own),
            "{err}"
        );
    }
}

#[test]
fn distilbert_names_are_read_and_written_back() {
    let text = r#"{"activation":"gelu","attention_dropout":0.1,"dim":64,"dropout":0.1,"hidden_dim":128,
        "initializer_range":0.2,"max_position_embeddings":128,"model_type":"distilbert","n_heads":4,
        "n_layers":2,"pad_token_id":0,"seq_classif_dropout":0.2,"sinusoidal_pos_embds":false,
        "vocab_size":1500}"#;
    let c = BertConfig::from_json_str(text).expect("distilbert config");
    assert_eq!(
        (
            c.hidden_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.intermediate_size
        ),
        (64, 2, 4, 128)
    );
    assert_eq!((c.type_vocab_size, c.head_dropout()), (0, 0.2));
    let back = c.to_hugging_face_json().expect("json");
    for key in [
        "dim",
        "n_layers",
        "n_heads",
        "hidden_dim",
        "seq_classif_dropout",
    ] {
        assert!(back.contains_key(key), "{key} in {back:?}");
    }
    assert!(!back.contains_key("hidden_size") && !back.contains_key("type_vocab_size"));
    let sinusoidal = text.replace(
        "\"sinusoidal_pos_embds\":false",
        "\"sinusoidal_pos_embds\":true",
    );
    assert!(BertConfig::from_json_str(&sinusoidal)
        .unwrap_err()
        .to_string()
        .contains("sinusoidal_pos_embds"));
}

#[test]
fn unsupported_activation_is_rejected() {
    let text = MINILM.replace("\"hidden_act\":\"gelu\"", "\"hidden_act\":\"relu\"");
    let err = BertConfig::from_json_str(&text).unwrap_err().to_string();
    assert!(err.contains("hidden_act"), "{err}");
}
