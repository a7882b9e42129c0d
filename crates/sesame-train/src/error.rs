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

/// Everything that can stop a training or evaluation run. Each failure a user can act on has its own variant
/// naming the file, field or step to fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Core(#[from] sesame_core::CoreError),
    /// A run-directory file exists but cannot be read or is damaged.
    #[error("{path}: {message}")]
    Run { path: PathBuf, message: String },
    /// A file or directory could not be written (full disk, read-only or missing directory, permissions).
    #[error("cannot write {path}: {source} (check free space and permissions there; the previous checkpoint, if any, is untouched)")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A record could not be turned into JSON (a non-finite number where JSON has none, for instance).
    #[error("cannot serialise {path}: {source}")]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A recipe setting is out of range.
    #[error("invalid training setting `{field}`: {message}")]
    Setting {
        field: &'static str,
        message: String,
    },
    /// Nothing to train on.
    #[error("{source_name} is empty: nothing to train on")]
    EmptyTrainingSet { source_name: String },
    /// Training or selecting the best model needs labels that a split does not have.
    #[error("the {split} set has unlabelled examples (a test split?); training and model selection need labels")]
    Unlabelled { split: &'static str },
    /// The loss or the gradient norm became NaN or infinite; the run stopped before writing anything from
    /// that step on.
    #[error("non-finite {quantity} ({value}) at epoch {epoch}, step {step}: the run stopped there and its last checkpoint is intact; lower the learning rate, enable clipping (--max-grad-norm) or check the data, then --resume or start over")]
    NonFinite {
        quantity: &'static str,
        value: f64,
        epoch: usize,
        step: usize,
    },
    /// `--resume` on a run directory without a complete checkpoint.
    #[error("{dir}: no checkpoint to resume from (checkpoints/LATEST is missing); start without --resume, or pass --resume-if-possible to start over when there is none")]
    NoCheckpoint { dir: PathBuf },
    /// The output directory already holds a run that this command would overwrite.
    #[error("{dir} already holds {what}; pass --overwrite-output-dir to replace it{hint}")]
    OutputInUse {
        dir: PathBuf,
        what: String,
        hint: &'static str,
    },
    /// The accelerator ran out of memory in a training step (its allocator's panic, caught).
    #[error("the device ran out of memory on a batch of {rows} × {len} tokens ({reason}); lower --batch-size and raise --gradient-accumulation by the same factor (each update stays the same), or lower --max-seq-length")]
    DeviceOutOfMemory {
        rows: usize,
        len: usize,
        reason: String,
    },
    /// Another process is writing to the run directory (it holds the directory's lock).
    #[error("{dir} is in use by {holder}, which is writing a run there; wait for it to finish or choose another --output-dir")]
    RunLocked { dir: PathBuf, holder: String },
    /// `--resume` on a run directory whose recorded job trains something else.
    #[error("{dir} holds a run with another configuration ({}); resume it with the same settings, or pass --overwrite-output-dir to replace it", differences.join(", "))]
    OtherRun {
        dir: PathBuf,
        differences: Vec<String>,
    },
}

impl TrainError {
    pub(crate) fn run(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        TrainError::Run {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Write {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn setting(field: &'static str, message: impl Into<String>) -> Self {
        TrainError::Setting {
            field,
            message: message.into(),
        }
    }
}
