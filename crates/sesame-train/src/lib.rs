//! # sesame-train
//!
//! Task data and the fine-tuning learner of sesame. For now: GLUE-style TSV reading with errors that name file
//! and line; the GLUE/HANS readers, the BERT recipe and the run directory build on it.

pub mod batching;
pub mod error;
pub mod export;
pub mod fsio;
pub mod hans;
pub mod learner;
pub mod metrics;
pub mod optim;
pub mod rng;
pub mod run;
pub mod schedule;
pub mod submission;
pub mod tasks;
pub mod tsv;

pub use error::{DataError, TrainError};
pub use learner::{
    predict, train, ModelOutputs, Silent, StepLog, TrainConfig, TrainInputs, TrainObserver,
    TrainOutcome, TrainerState,
};
pub use tasks::{Dataset, Example, Label, MalformedRows, Split, Task};
pub use tsv::{TsvFile, TsvRecord};
