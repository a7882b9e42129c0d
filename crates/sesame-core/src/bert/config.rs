//! `BertConfig`: the Hugging Face `config.json` of a BERT checkpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// The architecture hyper-parameters of a BERT encoder, named as in Hugging Face's `BertConfig`.
///
/// Fields that every checkpoint states are required; the rest take `transformers`' defaults. Unknown fields
/// (`architectures`, `torch_dtype`, `transformers_version`, ...) are ignored so that any Hugging Face
/// `config.json` of a BERT model reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_initializer_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub pad_token_id: usize,
    #[serde(default = "default_position_embedding_type")]
    pub position_embedding_type: String,
    /// Kept so that an exported `config.json` says what it is.
    #[serde(default = "default_model_type")]
    pub model_type: String,
}

fn default_type_vocab_size() -> usize {
    2
}
fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}
fn default_initializer_range() -> f64 {
    0.02
}
fn default_position_embedding_type() -> String {
    "absolute".into()
}
fn default_model_type() -> String {
    "bert".into()
}

impl BertConfig {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
        Self::from_json_str(&text).map_err(|message| CoreError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates the JSON text of a config; the error is a message without the file name.
    pub fn from_json_str(text: &str) -> std::result::Result<Self, String> {
        let config: BertConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that the model code relies on.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(format!("field `{field}` must be positive, got 0"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "field `hidden_size` ({}) is not divisible by `num_attention_heads` ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "field `hidden_act` is \"{}\"; sesame implements BERT's exact (erf) \"gelu\" only",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "field `position_embedding_type` is \"{}\"; only \"absolute\" is supported",
                self.position_embedding_type
            ));
        }
        for (field, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("field `{field}` must be in [0, 1), got {p}"));
            }
        }
        if !crate::error::is_positive(self.layer_norm_eps) {
            return Err(format!(
                "field `layer_norm_eps` must be positive, got {}",
                self.layer_norm_eps
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(format!(
                "field `pad_token_id` ({}) is outside the vocabulary ({})",
                self.pad_token_id, self.vocab_size
            ));
        }
        Ok(())
    }

    /// Size of one attention head, `d_h = d / H`.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The MiniLM-L6 shape (6 × 384, 12 heads, FFN 1536), handy for tests and benches without a checkpoint.
    pub fn minilm_l6() -> Self {
        Self::with_shape(6, 384, 12, 1536)
    }

    /// The BERT-base shape (12 × 768, 12 heads, FFN 3072).
    pub fn bert_base() -> Self {
        Self::with_shape(12, 768, 12, 3072)
    }

    /// A BERT config with the given shape and the uncased BERT vocabulary and defaults otherwise.
    pub fn with_shape(layers: usize, hidden: usize, heads: usize, intermediate: usize) -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: intermediate,
            max_position_embeddings: 512,
            type_vocab_size: default_type_vocab_size(),
            hidden_act: default_hidden_act(),
            hidden_dropout_prob: default_dropout(),
            attention_probs_dropout_prob: default_dropout(),
            layer_norm_eps: default_layer_norm_eps(),
            initializer_range: default_initializer_range(),
            pad_token_id: 0,
            position_embedding_type: default_position_embedding_type(),
            model_type: default_model_type(),
        }
    }
}

#[cfg(test)]
mod tests {
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
        let err = BertConfig::from_json_str(&text).unwrap_err();
        assert!(err.contains("missing field `hidden_size`"), "{err}");
    }

    #[test]
    fn indivisible_heads_are_rejected() {
        let text = MINILM.replace("\"num_attention_heads\":12", "\"num_attention_heads\":5");
        let err = BertConfig::from_json_str(&text).unwrap_err();
        assert!(err.contains("not divisible"), "{err}");
    }

    #[test]
    fn unsupported_activation_is_rejected() {
        let text = MINILM.replace("\"hidden_act\":\"gelu\"", "\"hidden_act\":\"relu\"");
        let err = BertConfig::from_json_str(&text).unwrap_err();
        assert!(err.contains("hidden_act"), "{err}");
    }
}
