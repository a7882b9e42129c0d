//! `BertConfig`: the Hugging Face `config.json` of a BERT-family checkpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config_shared::read_config_text;
use super::family::Family;
use crate::error::{CoreError, Result};

/// The architecture hyper-parameters of a BERT-family encoder, named as in Hugging Face's `BertConfig`.
///
/// Fields that every checkpoint states are required; the rest take `transformers`' defaults. Unknown fields
/// (`architectures`, `torch_dtype`, `transformers_version`, ...) are ignored so that any Hugging Face
/// `config.json` of the family reads. DistilBERT's own names (`dim`, `n_heads`, ...) are translated on reading
/// and written back on export ([`BertConfig::to_hugging_face_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    /// 0 for a family without token types (DistilBERT).
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    /// ELECTRA: the width of the embeddings when it differs from `hidden_size` (a projection follows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
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
    /// Dropout before the classification head; `None` = `hidden_dropout_prob` (DistilBERT's
    /// `seq_classif_dropout`).
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    /// The architecture: which family's switches the model takes.
    #[serde(default = "default_model_type")]
    pub model_type: Family,
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
fn default_model_type() -> Family {
    Family::Bert
}

/// DistilBERT's `config.json` names and BERT's, for the fields that differ only in name.
const DISTILBERT_NAMES: [(&str, &str); 8] = [
    ("dim", "hidden_size"),
    ("n_layers", "num_hidden_layers"),
    ("n_heads", "num_attention_heads"),
    ("hidden_dim", "intermediate_size"),
    ("dropout", "hidden_dropout_prob"),
    ("attention_dropout", "attention_probs_dropout_prob"),
    ("activation", "hidden_act"),
    ("seq_classif_dropout", "classifier_dropout"),
];

/// DistilBERT's LayerNorm ε, fixed in its code rather than in the config.
const DISTILBERT_LAYER_NORM_EPS: f64 = 1e-12;

/// Rewrites a DistilBERT `config.json` object into BERT's names.
fn distilbert_to_bert(config: &mut Map<String, Value>) -> std::result::Result<(), String> {
    if config.get("sinusoidal_pos_embds").and_then(Value::as_bool) == Some(true) {
        return Err(
            "field `sinusoidal_pos_embds` is true; sesame reads DistilBERT with learned positions only".into(),
        );
    }
    for (theirs, ours) in DISTILBERT_NAMES {
        if let Some(v) = config.remove(theirs) {
            config.insert(ours.into(), v);
        }
    }
    config.insert("type_vocab_size".into(), 0.into());
    config.insert("layer_norm_eps".into(), DISTILBERT_LAYER_NORM_EPS.into());
    Ok(())
}

/// The inverse of [`distilbert_to_bert`], for exports.
fn bert_to_distilbert(config: &mut Map<String, Value>) {
    for (theirs, ours) in DISTILBERT_NAMES {
        if let Some(v) = config.remove(ours) {
            config.insert(theirs.into(), v);
        }
    }
    for field in [
        "type_vocab_size",
        "layer_norm_eps",
        "position_embedding_type",
    ] {
        config.remove(field);
    }
    config.insert("sinusoidal_pos_embds".into(), false.into());
}

impl BertConfig {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = read_config_text(path)?;
        Self::from_json_str(&text).map_err(|e| e.in_config_file(path))
    }

    /// Parses and validates the JSON text of a config ([`CoreError::ConfigValue`]: no file name).
    pub fn from_json_str(text: &str) -> Result<Self> {
        let config = Self::parse_json(text).map_err(CoreError::ConfigValue)?;
        config.validate().map(|()| config)
    }

    /// The JSON text as a config, in BERT's field names, before its values are checked.
    fn parse_json(text: &str) -> std::result::Result<Self, String> {
        let mut value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let object = value
            .as_object_mut()
            .ok_or("a config must be a JSON object")?;
        let model_type = match object.get("model_type") {
            None => Family::Bert,
            Some(v) => {
                let name = v.as_str().ok_or("field `model_type` must be a string")?;
                Family::from_model_type(name).ok_or_else(|| {
                    let known: Vec<&str> = Family::ALL.iter().map(|f| f.model_type()).collect();
                    format!(
                        "model_type \"{name}\" is not supported; sesame reads {}",
                        known.join(", ")
                    )
                })?
            }
        };
        if let Some(own) = model_type.own_config() {
            return Err(format!(
                "model_type \"{model_type}\" is not a BERT-family encoder; it is read by its own config \
                 ({own})"
            ));
        }
        if model_type == Family::DistilBert {
            distilbert_to_bert(object)?;
        }
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// The `config.json` object in the family's own names (what `transformers` reads back).
    pub fn to_hugging_face_json(
        &self,
    ) -> std::result::Result<Map<String, Value>, serde_json::Error> {
        let Value::Object(mut object) = serde_json::to_value(self)? else {
            unreachable!("a struct serialises to a JSON object")
        };
        if self.model_type == Family::DistilBert {
            bert_to_distilbert(&mut object);
        }
        Ok(object)
    }

    /// The name `config.json` gives BERT's field `bert_field` in this family (DistilBERT's `dim` for
    /// `hidden_size`, …), for messages about the file the user has.
    pub fn field_name(&self, bert_field: &'static str) -> &'static str {
        if self.model_type != Family::DistilBert {
            return bert_field;
        }
        DISTILBERT_NAMES
            .iter()
            .find(|(_, ours)| *ours == bert_field)
            .map_or(bert_field, |(theirs, _)| theirs)
    }

    /// The architecture family.
    pub fn family(&self) -> Family {
        self.model_type
    }

    /// The width of the embedding tables (ELECTRA's may be narrower than the encoder).
    pub fn embedding_width(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    /// Dropout before the classification head.
    pub fn head_dropout(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// How many token types the embeddings accept (at least type 0, also where there is no table).
    pub fn token_types(&self) -> usize {
        self.type_vocab_size.max(1)
    }

    /// Checks the values that the model code relies on ([`CoreError::ConfigValue`] naming the field).
    pub fn validate(&self) -> Result<()> {
        self.check_values().map_err(CoreError::ConfigValue)
    }

    fn check_values(&self) -> std::result::Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("embedding_size", self.embedding_width()),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(format!("field `{field}` must be positive, got 0"));
            }
        }
        if self.model_type.has_token_types() && self.type_vocab_size == 0 {
            return Err("field `type_vocab_size` must be positive, got 0".into());
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
            ("classifier_dropout", self.head_dropout()),
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
        if self.model_type.positions_after_padding()
            && self.pad_token_id + 2 > self.max_position_embeddings
        {
            return Err(format!(
                "field `max_position_embeddings` ({}) leaves no position after `pad_token_id` ({})",
                self.max_position_embeddings, self.pad_token_id
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
            embedding_size: None,
            hidden_act: default_hidden_act(),
            hidden_dropout_prob: default_dropout(),
            attention_probs_dropout_prob: default_dropout(),
            layer_norm_eps: default_layer_norm_eps(),
            initializer_range: default_initializer_range(),
            pad_token_id: 0,
            position_embedding_type: default_position_embedding_type(),
            classifier_dropout: None,
            model_type: default_model_type(),
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
