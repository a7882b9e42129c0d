//! DeBERTa-v3 against `transformers`: `../shared/models/tiny-deberta-v3` (a random-weight
//! `DebertaV2ForSequenceClassification` in v3's configuration: relative attention with c2p and p2c terms over
//! 8 log buckets, shared projections, `encoder.LayerNorm` over the relative embeddings, no absolute positions
//! or token types) on the 8 pairs of `../shared/golden/modern_public.safetensors`, from the golden token ids:
//! every hidden state within 1e-4 at real tokens and 5e-3 at padding, the logits within 1e-4. The pairs run
//! to 128 tokens, far past the 4 distances that keep their own bucket, so the log buckets are exercised.

use sesame_core::deberta::DebertaV2Config;
use sesame_core::ops::host::to_host;
use sesame_core::Encoder;
use sesame_testkit::{masked_max_diff, max_diff, shared_dir, tiny_classifier, Golden};

const REAL_TOL: f32 = 1e-4;
const PAD_TOL: f32 = 5e-3;

/// The encoder's hidden states, then the classifier's logits through sesame's whole classification path
/// (plain variant: the last layer's output into `pooler` and `classifier`).
#[test]
fn tiny_deberta_v3_matches_transformers() {
    let dir = shared_dir().join("models/tiny-deberta-v3");
    let config = DebertaV2Config::from_file(dir.join("config.json")).expect("config");
    assert_eq!(
        (
            config.attention_span(),
            config.max_relative_positions,
            config.pos_att_type.scale_factor()
        ),
        (8, 256, 3)
    );
    let model = tiny_classifier("tiny-deberta-v3");
    let Encoder::DebertaV2(bert) = &model.bert else {
        panic!("a DeBERTa config builds DeBERTa's encoder")
    };
    let golden = Golden::open("modern_public.safetensors");
    let mask = golden.i64("deberta-v3.attention_mask").1;
    let input = golden.input_named("deberta-v3.", &Default::default());
    let encoded = bert
        .encode(
            input.input_ids.clone(),
            Some(input.token_type_ids.clone()),
            input.attention_mask.clone(),
            false,
        )
        .expect("encode");
    assert_eq!(encoded.hidden_states.len(), 3);
    let names = (0..3)
        .map(|i| format!("deberta-v3.hidden_states.{i}"))
        .chain(["deberta-v3.last_hidden_state".to_string()]);
    let last = encoded.hidden_states.last().expect("a layer").clone();
    for (name, h) in names.zip(encoded.hidden_states.iter().chain([&last])) {
        let (shape, want) = golden.f32(&name);
        let got = to_host(h.clone()).expect("host");
        let (real, pad) = masked_max_diff(&got, &want, &mask, shape[2]);
        eprintln!("{name}: max diff real {real:.3e}, padding {pad:.3e}");
        assert!(real <= REAL_TOL && pad <= PAD_TOL, "{name}: {real}, {pad}");
    }
    let logits = to_host(model.forward(input).expect("forward").logits).expect("host");
    let diff = max_diff(&logits, &golden.f32("deberta-v3.logits").1);
    eprintln!("logits: max diff {diff:.3e}");
    assert!(diff <= REAL_TOL, "logits: {diff}");
}

#[test]
fn unimplemented_config_fields_are_refused_by_name() {
    let dir = shared_dir().join("models/tiny-deberta-v3");
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    for (field, value, want) in [
        ("conv_kernel_size", serde_json::json!(3), "conv_kernel_size"),
        ("pos_att_type", serde_json::json!(["p2p"]), "`p2p`"),
        (
            "attention_head_size",
            serde_json::json!(32),
            "attention_head_size",
        ),
        ("hidden_act", serde_json::json!("gelu_new"), "gelu_new"),
        ("norm_rel_ebd", serde_json::json!("rms"), "norm_rel_ebd"),
        (
            "model_type",
            serde_json::json!("deberta"),
            "not a DeBERTa-v2/v3 config",
        ),
    ] {
        let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
        config[field] = value;
        let err = DebertaV2Config::from_json_str(&config.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{field}: {err}");
    }
    // The older string spelling of pos_att_type reads as the list.
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config["pos_att_type"] = serde_json::json!("c2p|p2c");
    let read = DebertaV2Config::from_json_str(&config.to_string()).expect("string form");
    assert!(read.pos_att_type.c2p && read.pos_att_type.p2c);
}
