//! [`EncoderConfig`]: the architecture of any encoder sesame reads, from `config.json`'s `model_type`, and the
//! sizes the learner asks of it (memory estimates, the dimensions a shape plan avoids).

use std::path::Path;

use serde_json::{Map, Value};

use crate::bert::config::BertConfig;
use crate::bert::config_shared::read_config_text;
use crate::bert::family::Family;
use crate::deberta::DebertaV2Config;
use crate::error::{CoreError, Result};
use crate::memory::ModelSize;
use crate::modernbert::ModernBertConfig;

/// The architecture of an encoder, as its `config.json` states it.
#[derive(Debug, Clone, PartialEq)]
pub enum EncoderConfig {
    /// BERT, RoBERTa, XLM-R, ELECTRA, DistilBERT.
    Bert(BertConfig),
    ModernBert(ModernBertConfig),
    /// DeBERTa-v2 and -v3 (`model_type: deberta-v2`).
    DebertaV2(DebertaV2Config),
}

impl EncoderConfig {
    /// Reads `config.json` with the config type of its `model_type` (a BERT-family config without one is BERT,
    /// as `transformers`' BERT classes read it).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = read_config_text(path)?;
        Self::from_json_str(&text).map_err(|e| e.in_config_file(path))
    }

    /// Parses and checks the JSON text of a config of any supported architecture.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| CoreError::ConfigValue(e.to_string()))?;
        let family = value
            .get("model_type")
            .and_then(Value::as_str)
            .and_then(Family::from_model_type);
        Ok(match family {
            Some(Family::ModernBert) => Self::ModernBert(ModernBertConfig::from_json_str(text)?),
            Some(Family::DebertaV2) => Self::DebertaV2(DebertaV2Config::from_json_str(text)?),
            // The BERT family, and the errors of an unknown or missing model_type, are BertConfig's.
            _ => Self::Bert(BertConfig::from_json_str(text)?),
        })
    }

    pub fn family(&self) -> Family {
        match self {
            Self::Bert(c) => c.family(),
            Self::ModernBert(_) => Family::ModernBert,
            Self::DebertaV2(_) => Family::DebertaV2,
        }
    }

    /// The BERT-family config, `None` for the architectures with a tree of their own.
    pub fn as_bert(&self) -> Option<&BertConfig> {
        match self {
            Self::Bert(c) => Some(c),
            _ => None,
        }
    }

    pub fn num_hidden_layers(&self) -> usize {
        match self {
            Self::Bert(c) => c.num_hidden_layers,
            Self::ModernBert(c) => c.num_hidden_layers,
            Self::DebertaV2(c) => c.num_hidden_layers,
        }
    }

    pub fn hidden_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.hidden_size,
            Self::ModernBert(c) => c.hidden_size,
            Self::DebertaV2(c) => c.hidden_size,
        }
    }

    /// The feed-forward width (`intermediate_size`; ModernBERT's GeGLU input projection has twice as many
    /// outputs).
    pub fn intermediate_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.intermediate_size,
            Self::ModernBert(c) => c.intermediate_size,
            Self::DebertaV2(c) => c.intermediate_size,
        }
    }

    pub fn num_attention_heads(&self) -> usize {
        match self {
            Self::Bert(c) => c.num_attention_heads,
            Self::ModernBert(c) => c.num_attention_heads,
            Self::DebertaV2(c) => c.num_attention_heads,
        }
    }

    pub fn initializer_range(&self) -> f64 {
        match self {
            Self::Bert(c) => c.initializer_range,
            Self::ModernBert(c) => c.initializer_range,
            Self::DebertaV2(c) => c.initializer_range,
        }
    }

    /// The size of the position table; `None` where relative positions set no bound (DeBERTa without
    /// absolute position embeddings).
    pub fn max_position_embeddings(&self) -> Option<usize> {
        match self {
            Self::Bert(c) => Some(c.max_position_embeddings),
            Self::ModernBert(c) => Some(c.max_position_embeddings),
            Self::DebertaV2(c) => c.position_biased_input.then_some(c.max_position_embeddings),
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Bert(c) => c.vocab_size,
            Self::ModernBert(c) => c.vocab_size,
            Self::DebertaV2(c) => c.vocab_size,
        }
    }

    /// How many token types (segment ids) the model accepts: the BERT family's at least type 0; any where the
    /// model reads none (ModernBERT, DeBERTa-v3), since its tokenizer may still number the segments.
    pub fn token_types(&self) -> usize {
        match self {
            Self::Bert(c) => c.token_types(),
            Self::DebertaV2(c) if c.type_vocab_size > 0 => c.type_vocab_size,
            _ => usize::MAX,
        }
    }

    /// The model's own sizes (widths, heads, layers, vocabulary, positions, token types): what a padded length
    /// should not equal, so that a profile of a run tells its tensors apart.
    pub fn dimensions(&self) -> Vec<usize> {
        match self {
            Self::Bert(c) => vec![
                c.hidden_size,
                c.embedding_width(),
                c.head_size(),
                c.num_attention_heads,
                c.intermediate_size,
                c.num_hidden_layers,
                c.num_hidden_layers + 1,
                c.vocab_size,
                c.max_position_embeddings,
                c.token_types(),
            ],
            Self::ModernBert(c) => vec![
                c.hidden_size,
                3 * c.hidden_size,
                c.head_size(),
                c.num_attention_heads,
                c.intermediate_size,
                2 * c.intermediate_size,
                c.num_hidden_layers,
                c.num_hidden_layers + 1,
                c.vocab_size,
                c.max_position_embeddings,
            ],
            Self::DebertaV2(c) => vec![
                c.hidden_size,
                c.embedding_size,
                c.head_size(),
                c.num_attention_heads,
                c.intermediate_size,
                c.num_hidden_layers,
                c.num_hidden_layers + 1,
                c.vocab_size,
                c.max_position_embeddings,
                2 * c.attention_span(),
            ],
        }
    }

    /// The size of the model with a head of `labels` outputs (memory estimates).
    pub fn model_size(&self, labels: usize) -> ModelSize {
        match self {
            Self::Bert(c) => ModelSize::of(c, labels),
            Self::ModernBert(c) => modernbert_size(c, labels),
            Self::DebertaV2(c) => deberta_size(c, labels),
        }
    }

    /// The config as `transformers` reads it back: the BERT family's in its own field names, the others'
    /// objects as they were read.
    pub fn to_hugging_face_json(
        &self,
    ) -> std::result::Result<Map<String, Value>, serde_json::Error> {
        match self {
            Self::Bert(c) => c.to_hugging_face_json(),
            Self::ModernBert(c) => Ok(c.original.clone()),
            Self::DebertaV2(c) => Ok(c.original.clone()),
        }
    }
}

impl From<&BertConfig> for EncoderConfig {
    fn from(config: &BertConfig) -> Self {
        Self::Bert(config.clone())
    }
}

impl From<&ModernBertConfig> for EncoderConfig {
    fn from(config: &ModernBertConfig) -> Self {
        Self::ModernBert(config.clone())
    }
}

impl From<&DebertaV2Config> for EncoderConfig {
    fn from(config: &DebertaV2Config) -> Self {
        Self::DebertaV2(config.clone())
    }
}

impl From<&EncoderConfig> for EncoderConfig {
    fn from(config: &EncoderConfig) -> Self {
        config.clone()
    }
}

/// ModernBERT's parameter count: token embeddings and their norm; per layer `Wqkv`, `Wo`, GeGLU's `Wi`
/// (2 × intermediate outputs) and `mlp.Wo`, two norms; `final_norm`; the head (`head.dense`, `head.norm`,
/// `classifier`). Biases counted where configured.
fn modernbert_size(c: &ModernBertConfig, labels: usize) -> ModelSize {
    let n = |v: usize| v as u128;
    let (h, i, l) = (
        n(c.hidden_size),
        n(c.intermediate_size),
        n(c.num_hidden_layers),
    );
    let b = |on: bool, width: u128| if on { width } else { 0 };
    let norm = h + b(c.norm_bias, h);
    let attention = 3 * h * h + b(c.attention_bias, 3 * h) + h * h + b(c.attention_bias, h);
    let mlp = h * 2 * i + b(c.mlp_bias, 2 * i) + i * h + b(c.mlp_bias, h);
    let head = h * h + b(c.classifier_bias, h) + norm + h * n(labels) + n(labels);
    let parameters = n(c.vocab_size) * h + norm + l * (attention + mlp + 2 * norm) + norm + head;
    ModelSize::new(parameters, h, 2 * i, l, n(c.num_attention_heads))
}

/// DeBERTa's parameter count: embeddings (+ absolute positions, token types, `embed_proj` where configured)
/// and their LayerNorm; per layer BERT's; the relative embeddings and their LayerNorm; pooler and classifier.
fn deberta_size(c: &DebertaV2Config, labels: usize) -> ModelSize {
    let n = |v: usize| v as u128;
    let (h, e, i, l) = (
        n(c.hidden_size),
        n(c.embedding_size),
        n(c.intermediate_size),
        n(c.num_hidden_layers),
    );
    let positions = if c.position_biased_input {
        n(c.max_position_embeddings)
    } else {
        0
    };
    let tables = (n(c.vocab_size) + positions + n(c.type_vocab_size)) * e;
    let projection = if e == h { 0 } else { e * h };
    let layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h;
    let relative = 2 * n(c.attention_span()) * h + 2 * h;
    let head = (h * h + h) + h * n(labels) + n(labels);
    let parameters = tables + projection + 2 * h + l * layer + relative + head;
    ModelSize::new(parameters, h, i, l, n(c.num_attention_heads))
}
