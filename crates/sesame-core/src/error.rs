//! Errors of `sesame-core`: every failure a user can cause by pointing sesame at a file names that file.

use std::path::PathBuf;

/// Everything that can go wrong while reading a model's files or running it on user input.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON, misses a required field or holds inconsistent values.
    #[error("invalid model config {path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A model config's value (or JSON text read without a file) is invalid: what [`crate::BertConfig`]'s
    /// checks return; reading `config.json` turns it into [`CoreError::Config`] with the file's path.
    #[error("invalid model config: {0}")]
    ConfigValue(String),
    /// The safetensors file is truncated, corrupt or not a safetensors file at all.
    #[error("invalid checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// A tensor exists under the expected name but its shape disagrees with the config.
    #[error(
        "tensor `{key}` in {path} has shape {found:?}, but the model config expects {expected:?}"
    )]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A parameter tensor is stored in a dtype sesame cannot convert to a float.
    #[error("tensor `{key}` in {path} has dtype {dtype}; parameters must be F32, F16 or BF16")]
    UnsupportedDtype {
        path: PathBuf,
        key: String,
        dtype: String,
    },
    /// The checkpoint lacks parameters that must come from it (pretrained ones; in a sesame checkpoint or
    /// export, every one). Usually a checkpoint of another architecture or a truncated export.
    #[error("{path} lacks {} parameter tensor(s) this model needs: {}{}; {}", keys.len(), list_some(keys, 40), closest_hint(closest), missing_hint(*allowable))]
    MissingTensors {
        path: PathBuf,
        keys: Vec<String>,
        /// `(missing name, unused file tensor that looks closest)`, for a few missing names.
        closest: Vec<(String, String)>,
        /// Whether `--allow-missing-weights` would accept the load.
        allowable: bool,
    },
    /// A size in `config.json` disagrees with the weights file (its header, read before anything is allocated).
    #[error("invalid model config {config}: `{field}` is {value}, but {found}")]
    ConfigDisagrees {
        config: PathBuf,
        /// The field as the file spells it (DistilBERT's `n_layers`, …).
        field: String,
        value: usize,
        /// What the weights file holds instead, naming the file and the tensor.
        found: String,
    },
    /// The model would not fit the memory limit (estimated from its config, before anything is allocated).
    #[error("{what} needs about {needed}, more than the {limit}")]
    OutOfMemory {
        what: String,
        needed: String,
        limit: String,
    },
    /// The tokenizer files could not be loaded or an input could not be encoded.
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    /// A tensor could not be read back from the device.
    #[error("cannot read a tensor back from the device: {0}")]
    DeviceRead(String),
    /// A model variant setting (blur, SE, localness, guiding, labels) is out of range.
    #[error("invalid model setting: {0}")]
    Setting(String),
    /// An input does not fit the model: token ids outside the vocabulary, a sequence longer than the position
    /// table, targets of the wrong kind for the head.
    #[error("input does not fit the model: {0}")]
    Input(String),
    /// Parameters could not be turned into safetensors bytes.
    #[error("cannot serialise parameters: {0}")]
    Serialize(String),
    /// The backend cannot compute in the precision asked for on this device (`can`: the ones it computes in).
    #[error("this backend cannot compute in {asked} on this device; it can compute in {}", can.join(", "))]
    Precision {
        asked: &'static str,
        can: Vec<&'static str>,
    },
    /// A broken invariant of sesame itself (please report it).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The first `n` names, then how many more.
fn list_some(names: &[String], n: usize) -> String {
    let shown = names.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

fn closest_hint(closest: &[(String, String)]) -> String {
    if closest.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = closest
        .iter()
        .map(|(want, have)| format!("`{want}` ~ `{have}`"))
        .collect();
    format!(
        ". Unused tensors of the file that look closest: {}",
        pairs.join(", ")
    )
}

fn missing_hint(allowable: bool) -> &'static str {
    if allowable {
        "is it a checkpoint of another architecture? Point --model at a BERT checkpoint, or pass --allow-missing-weights to start the missing ones from random values"
    } else {
        "the directory is incomplete or damaged; export or checkpoint it again"
    }
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, CoreError>;

impl CoreError {
    /// This error with the config file it came from, where it names none yet.
    pub(crate) fn in_config_file(self, path: &std::path::Path) -> Self {
        match self {
            CoreError::ConfigValue(message) => CoreError::Config {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}

/// `x > 0` and finite: the check every positive setting (σ, τ, ε, a window) needs; false for NaN.
pub(crate) fn is_positive(x: f64) -> bool {
    x > 0.0 && x.is_finite()
}
