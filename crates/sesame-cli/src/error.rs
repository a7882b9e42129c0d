//! The error of the `sesame` facade and command line.

use std::path::PathBuf;

/// Any failure of a `sesame` command.
#[derive(Debug, thiserror::Error)]
pub enum SesameError {
    #[error(transparent)]
    Core(#[from] sesame_core::CoreError),
    #[error(transparent)]
    Data(#[from] sesame_train::DataError),
    #[error(transparent)]
    Train(#[from] sesame_train::TrainError),
    #[error(transparent)]
    Backend(#[from] sesame::backend::BackendUnavailable),
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("cannot write {path}: {message}")]
    Output { path: PathBuf, message: String },
    /// A record could not be turned into JSON (a non-finite number where JSON has none, for instance).
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}
