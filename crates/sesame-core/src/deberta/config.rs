//! `DebertaV2Config`: the Hugging Face `config.json` of a DeBERTa-v2 or -v3 checkpoint (`model_type`
//! `deberta-v2`; v3 is v2's architecture with its own config values). A field that would change the function
//! in a way sesame does not compute (the convolution layer of the v2 xlarge checkpoints, an attention head size
//! of its own, a position-attention type other than c2p and p2c) is refused by name.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::bert::config_shared::SharedValues;
use crate::error::{CoreError, Result};
use crate::modernbert::config::Activation;

/// The relative-position terms of disentangled attention (`pos_att_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PositionTerms {
    /// `c2p`: content queries against relative-position keys.
    pub c2p: bool,
    /// `p2c`: relative-position queries against content keys.
    pub p2c: bool,
}

impl PositionTerms {
    /// Its list form (`["p2c", "c2p"]`) or the older string form (`"p2c|c2p"`).
    fn parse(value: &Value) -> std::result::Result<Self, String> {
        let names: Vec<String> = match value {
            Value::Null => Vec::new(),
            Value::String(s) => s.split('|').map(|x| x.trim().to_lowercase()).collect(),
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(|s| s.trim().to_lowercase())
                        .ok_or_else(|| "pos_att_type: every entry must be a string".to_string())
                })
                .collect::<std::result::Result<_, _>>()?,
            _ => return Err("pos_att_type must be a list of strings or a string".into()),
        };
        let mut terms = PositionTerms::default();
        for name in names.iter().filter(|n| !n.is_empty()) {
            match name.as_str() {
                "c2p" => terms.c2p = true,
                "p2c" => terms.p2c = true,
                other => {
                    return Err(format!(
                        "pos_att_type: `{other}` is not implemented (c2p and p2c are)"
                    ))
                }
            }
        }
        Ok(terms)
    }

    /// How many score terms the attention sums (content-content and each relative term): the factor under the
    /// square root of the scale, `sqrt(d_h · factor)`.
    pub fn scale_factor(self) -> usize {
        1 + usize::from(self.c2p) + usize::from(self.p2c)
    }
}

/// The fields as `config.json` writes them; defaults are `transformers`' `DebertaV2Config` defaults.
#[derive(Debug, Deserialize)]
struct Raw {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default = "dropout")]
    hidden_dropout_prob: f64,
    #[serde(default = "dropout")]
    attention_probs_dropout_prob: f64,
    #[serde(default = "max_positions")]
    max_position_embeddings: usize,
    #[serde(default)]
    type_vocab_size: usize,
    #[serde(default = "initializer_range")]
    initializer_range: f64,
    #[serde(default = "layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    relative_attention: bool,
    #[serde(default = "minus_one")]
    max_relative_positions: i64,
    #[serde(default = "minus_one")]
    position_buckets: i64,
    #[serde(default = "yes")]
    position_biased_input: bool,
    #[serde(default)]
    pos_att_type: Value,
    #[serde(default)]
    share_att_key: bool,
    #[serde(default)]
    norm_rel_ebd: Option<String>,
    #[serde(default)]
    pooler_dropout: f64,
    #[serde(default = "gelu")]
    pooler_hidden_act: String,
    #[serde(default)]
    pooler_hidden_size: Option<usize>,
    #[serde(default)]
    cls_dropout: Option<f64>,
    #[serde(default)]
    embedding_size: Option<usize>,
    #[serde(default)]
    conv_kernel_size: usize,
    #[serde(default)]
    attention_head_size: Option<usize>,
    #[serde(default)]
    pad_token_id: Option<usize>,
}

fn gelu() -> String {
    "gelu".into()
}
fn dropout() -> f64 {
    0.1
}
fn max_positions() -> usize {
    512
}
fn initializer_range() -> f64 {
    0.02
}
fn layer_norm_eps() -> f64 {
    1e-7
}
fn minus_one() -> i64 {
    -1
}
fn yes() -> bool {
    true
}

/// The architecture of a DeBERTa-v2/v3 encoder and its classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct DebertaV2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    /// The width of the token embeddings; `embed_proj` maps it to `hidden_size` when they differ.
    pub embedding_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: usize,
    /// 0 in DeBERTa-v3: no token-type embeddings (the tokenizer's token types are then unused).
    pub type_vocab_size: usize,
    pub initializer_range: f64,
    pub layer_norm_eps: f64,
    pub relative_attention: bool,
    /// `max_relative_positions`, with `transformers`' rule: below 1 it is `max_position_embeddings`.
    pub max_relative_positions: usize,
    /// Log-bucketed relative positions when set (`position_buckets` > 0).
    pub position_buckets: Option<usize>,
    /// Absolute position embeddings added to the token embeddings.
    pub position_biased_input: bool,
    pub pos_att_type: PositionTerms,
    /// The relative-position projections are the content ones (`query_proj`, `key_proj`).
    pub share_att_key: bool,
    /// `norm_rel_ebd` names `layer_norm`: `encoder.LayerNorm` over the relative embeddings.
    pub norm_rel_ebd: bool,
    pub pooler_dropout: f64,
    pub pooler_hidden_act: Activation,
    /// The dropout before `classifier`: `cls_dropout`, else `hidden_dropout_prob`.
    pub cls_dropout: f64,
    pub pad_token_id: Option<usize>,
    /// The file's object, kept to be written back as it was read.
    pub original: Map<String, Value>,
}

impl DebertaV2Config {
    /// Reads and checks `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::bert::config_shared::read_config_text(path)?;
        Self::from_json_str(&text).map_err(|e| e.in_config_file(path))
    }

    /// Parses and checks the JSON text of a config.
    pub fn from_json_str(text: &str) -> Result<Self> {
        Self::parse(text).map_err(CoreError::ConfigValue)
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let (value, original) =
            crate::bert::config_shared::own_config_object(text, "deberta-v2", "DeBERTa-v2/v3")?;
        let raw: Raw = serde_json::from_value(value).map_err(|e| e.to_string())?;
        refuse_unimplemented(&raw)?;
        let norm_rel_ebd = raw
            .norm_rel_ebd
            .as_deref()
            .unwrap_or("none")
            .to_lowercase()
            .split('|')
            .map(str::trim)
            .try_fold(false, |norm, part| match part {
                "layer_norm" => Ok(true),
                "none" | "" => Ok(norm),
                other => Err(format!(
                    "norm_rel_ebd: `{other}` is not implemented (layer_norm and none are)"
                )),
            })?;
        // `transformers` reads a value below 1 as "not set".
        let positive = |v: i64| usize::try_from(v).ok().filter(|v| *v > 0);
        let config = DebertaV2Config {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            embedding_size: raw.embedding_size.unwrap_or(raw.hidden_size),
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            hidden_act: Activation::parse("hidden_act", &raw.hidden_act)?,
            hidden_dropout_prob: raw.hidden_dropout_prob,
            attention_probs_dropout_prob: raw.attention_probs_dropout_prob,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            initializer_range: raw.initializer_range,
            layer_norm_eps: raw.layer_norm_eps,
            relative_attention: raw.relative_attention,
            max_relative_positions: positive(raw.max_relative_positions)
                .unwrap_or(raw.max_position_embeddings),
            position_buckets: positive(raw.position_buckets),
            position_biased_input: raw.position_biased_input,
            pos_att_type: PositionTerms::parse(&raw.pos_att_type)?,
            share_att_key: raw.share_att_key,
            norm_rel_ebd,
            pooler_dropout: raw.pooler_dropout,
            pooler_hidden_act: Activation::parse("pooler_hidden_act", &raw.pooler_hidden_act)?,
            cls_dropout: raw.cls_dropout.unwrap_or(raw.hidden_dropout_prob),
            pad_token_id: raw.pad_token_id,
            original,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        SharedValues {
            sizes: &[
                ("vocab_size", self.vocab_size),
                ("hidden_size", self.hidden_size),
                ("embedding_size", self.embedding_size),
                ("intermediate_size", self.intermediate_size),
                ("num_hidden_layers", self.num_hidden_layers),
                ("num_attention_heads", self.num_attention_heads),
                ("max_position_embeddings", self.max_position_embeddings),
            ],
            hidden: self.hidden_size,
            heads: self.num_attention_heads,
            pad_token_id: self.pad_token_id,
            vocab_size: self.vocab_size,
            dropouts: &[
                ("hidden_dropout_prob", self.hidden_dropout_prob),
                (
                    "attention_probs_dropout_prob",
                    self.attention_probs_dropout_prob,
                ),
                ("pooler_dropout", self.pooler_dropout),
                ("cls_dropout", self.cls_dropout),
            ],
            eps: ("layer_norm_eps", self.layer_norm_eps),
        }
        .check()
    }

    /// `d_h = hidden_size / num_attention_heads`.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The attention span `k` of the relative embeddings: the buckets when set, else
    /// `max_relative_positions`. The encoder's table `rel_embeddings` has `2k` rows.
    pub fn attention_span(&self) -> usize {
        self.position_buckets.unwrap_or(self.max_relative_positions)
    }
}

/// Fields whose function sesame does not compute, refused by name rather than approximated.
fn refuse_unimplemented(raw: &Raw) -> std::result::Result<(), String> {
    if raw.conv_kernel_size > 0 {
        return Err(format!(
            "conv_kernel_size is {}: the convolution layer of DeBERTa-v2's xlarge checkpoints is not \
             implemented",
            raw.conv_kernel_size
        ));
    }
    let d_h = raw.hidden_size / raw.num_attention_heads.max(1);
    if raw.attention_head_size.is_some_and(|h| h != d_h) {
        return Err(format!(
            "attention_head_size {} differs from hidden_size / num_attention_heads = {d_h}, which sesame's \
             attention assumes",
            raw.attention_head_size.unwrap_or_default()
        ));
    }
    if raw.pooler_hidden_size.is_some_and(|p| p != raw.hidden_size) {
        return Err(format!(
            "pooler_hidden_size {} differs from hidden_size {}: the classifier reads hidden_size inputs",
            raw.pooler_hidden_size.unwrap_or_default(),
            raw.hidden_size
        ));
    }
    Ok(())
}
