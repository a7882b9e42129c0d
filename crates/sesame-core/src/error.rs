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
    /// Strict loading was requested and the checkpoint lacks parameters of the model.
    #[error("checkpoint {path} lacks {} parameter tensor(s): {}", keys.len(), keys.join(", "))]
    MissingTensors { path: PathBuf, keys: Vec<String> },
    /// The tokenizer files could not be loaded or an input could not be encoded.
    #[error("tokenizer {path}: {message}")]
    Tokenizer { path: PathBuf, message: String },
    /// A tensor could not be read back from the device.
    #[error("cannot read a tensor back from the device: {0}")]
    DeviceRead(String),
    /// A model configuration (variant settings, tensor shapes at run time) is invalid.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, CoreError>;

impl CoreError {
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
