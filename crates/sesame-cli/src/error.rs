//! The error of the `sesame` facade and command line.

use std::path::PathBuf;

use sesame_train::TrainError;

/// Any failure of a `sesame` command. A model or data error reaches it one way only, inside
/// [`TrainError`] (`TrainError::Core`, `TrainError::Data`), whichever layer raised it.
#[derive(Debug, thiserror::Error)]
pub enum SesameError {
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Backend(#[from] sesame::backend::BackendUnavailable),
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("cannot write {path}: {message}")]
    Output { path: PathBuf, message: String },
    /// A setting read from the environment or the command line that cannot be used.
    #[error("{0}")]
    Setting(String),
    /// `sesame report` found runs that other processes are still training.
    #[error("{count} runs of the grid (the first: {first}) are being trained by other processes; run the report again when they finish, or with --collect-only for what is done")]
    RunsInProgress { count: usize, first: PathBuf },
    /// `sesame rerun` trained the recorded job and got other dev metrics.
    #[error("the rerun in {rerun} does not reproduce the dev metrics recorded in {run} (above)")]
    NotReproduced { run: PathBuf, rerun: PathBuf },
    /// A record could not be turned into JSON (a non-finite number where JSON has none, for instance).
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<sesame_core::CoreError> for SesameError {
    fn from(e: sesame_core::CoreError) -> Self {
        SesameError::Train(e.into())
    }
}

impl From<sesame_train::DataError> for SesameError {
    fn from(e: sesame_train::DataError) -> Self {
        SesameError::Train(e.into())
    }
}
