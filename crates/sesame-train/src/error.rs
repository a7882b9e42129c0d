//! Errors of `sesame-train`: a bad row names its file and line.

use std::path::PathBuf;

/// Everything that can go wrong while reading task data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty (expected a header line)")]
    NoHeader { path: PathBuf },
    #[error("{path}:{line}: not valid UTF-8 ({source})")]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("{path}:{line}: expected {expected} tab-separated columns, found {found}")]
    ColumnCount {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: {message}")]
    BadRow {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Everything that can stop a training or evaluation run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Core(#[from] sesame_core::CoreError),
    #[error("{path}: {message}")]
    Run { path: PathBuf, message: String },
    #[error("invalid training setting: {0}")]
    Invalid(String),
}

impl TrainError {
    pub(crate) fn run(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::Run {
            path: path.into(),
            message: message.into(),
        }
    }
}
