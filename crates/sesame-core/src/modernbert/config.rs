//! `ModernBertConfig`: the Hugging Face `config.json` of a ModernBERT checkpoint, in both spellings that exist:
//! `transformers` 5's (`layer_types`, `rope_parameters`) and the released checkpoints' older one
//! (`global_attn_every_n_layers`, `global_rope_theta`, `local_rope_theta`), which read the same.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::bert::config_shared::SharedValues;
use crate::error::{CoreError, Result};

/// Whether a layer attends to every token or to a window around each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerType {
    /// `full_attention` (global): every key, RoPE θ of `full_attention`.
    Full,
    /// `sliding_attention` (local): keys with `|i − j| ≤ local_attention / 2`, RoPE θ of `sliding_attention`.
    Sliding,
}

impl LayerType {
    fn parse(name: &str) -> std::result::Result<Self, String> {
        match name {
            "full_attention" => Ok(LayerType::Full),
            "sliding_attention" => Ok(LayerType::Sliding),
            other => Err(format!(
                "layer_types: `{other}` is not a ModernBERT layer type (full_attention, sliding_attention)"
            )),
        }
    }
}

/// How the classifier pools the final hidden states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The first token (`[CLS]`).
    Cls,
    /// The mean over real tokens.
    Mean,
}

/// The activations a ModernBERT config may name: `transformers`' `ACT2FN` entries that sesame computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact (erf) GELU.
    Gelu,
    Relu,
    Silu,
    Tanh,
}

impl Activation {
    /// `name` as `transformers`' `ACT2FN` key, in config field `field` (named in the error).
    pub(crate) fn parse(field: &str, name: &str) -> std::result::Result<Self, String> {
        match name {
            "gelu" => Ok(Activation::Gelu),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            "tanh" => Ok(Activation::Tanh),
            other => Err(format!(
                "{field}: activation `{other}` is not implemented (gelu, relu, silu, tanh are)"
            )),
        }
    }
}

/// The fields as `config.json` writes them; defaults are `transformers`' `ModernBertConfig` defaults.
#[derive(Debug, Deserialize)]
struct Raw {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default = "gelu")]
    hidden_activation: String,
    #[serde(default = "max_positions")]
    max_position_embeddings: usize,
    #[serde(default = "initializer_range")]
    initializer_range: f64,
    #[serde(default = "norm_eps")]
    norm_eps: f64,
    #[serde(default)]
    norm_bias: bool,
    #[serde(default)]
    pad_token_id: Option<usize>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    attention_dropout: f64,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default = "every_third")]
    global_attn_every_n_layers: usize,
    #[serde(default)]
    rope_parameters: Option<Map<String, Value>>,
    #[serde(default)]
    global_rope_theta: Option<f64>,
    #[serde(default)]
    local_rope_theta: Option<f64>,
    #[serde(default)]
    rope_scaling: Option<Value>,
    #[serde(default)]
    head_dim: Option<usize>,
    #[serde(default = "window")]
    local_attention: usize,
    #[serde(default)]
    embedding_dropout: f64,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default)]
    mlp_dropout: f64,
    #[serde(default = "cls")]
    classifier_pooling: Pooling,
    #[serde(default)]
    classifier_dropout: f64,
    #[serde(default)]
    classifier_bias: bool,
    #[serde(default = "gelu")]
    classifier_activation: String,
}

fn gelu() -> String {
    "gelu".into()
}
fn max_positions() -> usize {
    8192
}
fn initializer_range() -> f64 {
    0.02
}
fn norm_eps() -> f64 {
    1e-5
}
fn every_third() -> usize {
    3
}
fn window() -> usize {
    128
}
fn cls() -> Pooling {
    Pooling::Cls
}

/// RoPE θ of the global and the local layers when a config names neither spelling (`transformers`' defaults).
const DEFAULT_THETA: (f64, f64) = (160_000.0, 10_000.0);

/// The architecture of a ModernBERT encoder and its classifier, resolved from either spelling.
#[derive(Debug, Clone, PartialEq)]
pub struct ModernBertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub hidden_activation: Activation,
    pub max_position_embeddings: usize,
    pub initializer_range: f64,
    pub norm_eps: f64,
    pub norm_bias: bool,
    pub pad_token_id: Option<usize>,
    pub attention_bias: bool,
    pub attention_dropout: f64,
    /// One per layer.
    pub layer_types: Vec<LayerType>,
    /// RoPE θ of the full-attention and of the sliding-window layers.
    pub global_rope_theta: f64,
    pub local_rope_theta: f64,
    /// The whole window: a local layer's token sees `local_attention / 2` tokens on each side.
    pub local_attention: usize,
    pub embedding_dropout: f64,
    pub mlp_bias: bool,
    pub mlp_dropout: f64,
    pub classifier_pooling: Pooling,
    pub classifier_dropout: f64,
    pub classifier_bias: bool,
    pub classifier_activation: Activation,
    /// The file's object, kept to be written back in the spelling it was read in.
    pub original: Map<String, Value>,
}

impl ModernBertConfig {
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
            crate::bert::config_shared::own_config_object(text, "modernbert", "ModernBERT")?;
        let raw: Raw = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if raw.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(
                "rope_scaling is set: only ModernBERT's default RoPE is implemented".into(),
            );
        }
        let layer_types = match &raw.layer_types {
            Some(names) => names
                .iter()
                .map(|n| LayerType::parse(n))
                .collect::<std::result::Result<Vec<_>, _>>()?,
            None => {
                if raw.global_attn_every_n_layers == 0 {
                    return Err("global_attn_every_n_layers must be at least 1".into());
                }
                (0..raw.num_hidden_layers)
                    .map(|i| match i % raw.global_attn_every_n_layers {
                        0 => LayerType::Full,
                        _ => LayerType::Sliding,
                    })
                    .collect()
            }
        };
        let (global_rope_theta, local_rope_theta) = rope_thetas(&raw)?;
        let config = ModernBertConfig {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            hidden_activation: Activation::parse("hidden_activation", &raw.hidden_activation)?,
            max_position_embeddings: raw.max_position_embeddings,
            initializer_range: raw.initializer_range,
            norm_eps: raw.norm_eps,
            norm_bias: raw.norm_bias,
            pad_token_id: raw.pad_token_id,
            attention_bias: raw.attention_bias,
            attention_dropout: raw.attention_dropout,
            layer_types,
            global_rope_theta,
            local_rope_theta,
            local_attention: raw.local_attention,
            embedding_dropout: raw.embedding_dropout,
            mlp_bias: raw.mlp_bias,
            mlp_dropout: raw.mlp_dropout,
            classifier_pooling: raw.classifier_pooling,
            classifier_dropout: raw.classifier_dropout,
            classifier_bias: raw.classifier_bias,
            classifier_activation: Activation::parse(
                "classifier_activation",
                &raw.classifier_activation,
            )?,
            original,
        };
        config.validate(raw.head_dim)?;
        Ok(config)
    }

    fn validate(&self, head_dim: Option<usize>) -> std::result::Result<(), String> {
        SharedValues {
            sizes: &[
                ("vocab_size", self.vocab_size),
                ("hidden_size", self.hidden_size),
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
                ("attention_dropout", self.attention_dropout),
                ("embedding_dropout", self.embedding_dropout),
                ("mlp_dropout", self.mlp_dropout),
                ("classifier_dropout", self.classifier_dropout),
            ],
            eps: ("norm_eps", self.norm_eps),
        }
        .check()?;
        let d_h = self.head_size();
        if !d_h.is_multiple_of(2) {
            return Err(format!("RoPE needs an even head size, got {d_h}"));
        }
        if head_dim.is_some_and(|h| h != d_h) {
            return Err(format!(
                "head_dim {} differs from hidden_size / num_attention_heads = {d_h}, which ModernBERT's \
                 projections assume",
                head_dim.unwrap_or_default()
            ));
        }
        if self.layer_types.len() != self.num_hidden_layers {
            return Err(format!(
                "layer_types names {} layers, num_hidden_layers is {}",
                self.layer_types.len(),
                self.num_hidden_layers
            ));
        }
        Ok(())
    }

    /// `d_h = hidden_size / num_attention_heads`.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The keys each token of a sliding-window layer sees on either side (`local_attention / 2`).
    pub fn half_window(&self) -> usize {
        self.local_attention / 2
    }

    /// RoPE θ of layers of `kind`.
    pub fn rope_theta(&self, kind: LayerType) -> f64 {
        match kind {
            LayerType::Full => self.global_rope_theta,
            LayerType::Sliding => self.local_rope_theta,
        }
    }
}

/// θ of the global and local layers from `rope_parameters` (transformers 5) or `global_rope_theta` /
/// `local_rope_theta` (the Hub's checkpoints); a RoPE type other than `default` is refused by name.
fn rope_thetas(raw: &Raw) -> std::result::Result<(f64, f64), String> {
    let from_parameters = |layer_type: &str| -> std::result::Result<Option<f64>, String> {
        let Some(entry) = raw.rope_parameters.as_ref().and_then(|p| p.get(layer_type)) else {
            return Ok(None);
        };
        if entry.is_null() {
            return Ok(None);
        }
        let kind = entry
            .get("rope_type")
            .and_then(Value::as_str)
            .unwrap_or("default");
        if kind != "default" {
            return Err(format!(
                "rope_parameters.{layer_type}.rope_type is `{kind}`: only the default RoPE is implemented"
            ));
        }
        match entry.get("rope_theta") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_f64().filter(|t| *t > 0.0).map(Some).ok_or_else(|| {
                format!("rope_parameters.{layer_type}.rope_theta must be a positive number")
            }),
        }
    };
    let global = from_parameters("full_attention")?
        .or(raw.global_rope_theta)
        .unwrap_or(DEFAULT_THETA.0);
    let local = from_parameters("sliding_attention")?
        .or(raw.local_rope_theta)
        .unwrap_or(DEFAULT_THETA.1);
    if !(global > 0.0 && local > 0.0) {
        return Err(format!("RoPE θ must be positive, got {global} and {local}"));
    }
    Ok((global, local))
}
