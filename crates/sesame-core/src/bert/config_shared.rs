//! What reading any architecture's `config.json` shares: the size limit on the file, the object kept to be
//! written back as read, and the checks of the values every architecture states.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{CoreError, Result};

/// The largest `config.json` read: released configs have a few kilobytes (a vocabulary-sized `id2label` of a
/// token classifier stays far below); anything larger is not a model config.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The JSON of a config of an architecture with a config type of its own: the parsed value and a copy of its
/// object (kept to be written back as read), after checking that `model_type` is `model_type` (`what` names the
/// architecture in the error).
pub(crate) fn own_config_object(
    text: &str,
    model_type: &str,
    what: &str,
) -> std::result::Result<(Value, Map<String, Value>), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let original = value
        .as_object()
        .ok_or("a config must be a JSON object")?
        .clone();
    match original.get("model_type").and_then(Value::as_str) {
        Some(t) if t == model_type => Ok((value, original)),
        other => Err(format!(
            "model_type is {other:?}, not \"{model_type}\": not a {what} config"
        )),
    }
}

/// The values that the config of every architecture with a tree of its own (ModernBERT, DeBERTa) must check, in
/// its own field names: each of `sizes` at least 1, `hidden_size` a multiple of `num_attention_heads`, the
/// padding id inside the vocabulary, each of `dropouts` in [0, 1), the norm's ε (`eps`) positive and finite.
pub(crate) struct SharedValues<'a> {
    pub sizes: &'a [(&'a str, usize)],
    pub hidden: usize,
    pub heads: usize,
    pub pad_token_id: Option<usize>,
    pub vocab_size: usize,
    pub dropouts: &'a [(&'a str, f64)],
    pub eps: (&'a str, f64),
}

impl SharedValues<'_> {
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if let Some((name, _)) = self.sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("`{name}` must be at least 1"));
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden, self.heads
            ));
        }
        if self.pad_token_id.is_some_and(|p| p >= self.vocab_size) {
            return Err(format!(
                "pad_token_id {:?} is not below vocab_size {}",
                self.pad_token_id, self.vocab_size
            ));
        }
        if let Some((name, p)) = self.dropouts.iter().find(|(_, p)| !(0.0..1.0).contains(p)) {
            return Err(format!("`{name}` must be in [0, 1), got {p}"));
        }
        let (name, eps) = self.eps;
        if !(eps > 0.0 && eps.is_finite()) {
            return Err(format!("{name} must be positive, got {eps}"));
        }
        Ok(())
    }
}

/// The text of a `config.json`, refused unread when it is larger than any model config
/// ([`MAX_CONFIG_BYTES`]).
pub(crate) fn read_config_text(path: &Path) -> Result<String> {
    let len = std::fs::metadata(path)
        .map_err(|e| CoreError::io(path, e))?
        .len();
    if len > MAX_CONFIG_BYTES {
        return Err(CoreError::Config {
            path: path.to_path_buf(),
            message: format!(
                "the file has {len} bytes; a model config has a few thousand (at most {MAX_CONFIG_BYTES} are read)"
            ),
        });
    }
    std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))
}
