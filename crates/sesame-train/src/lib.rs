//! # sesame-train
//!
//! Task data and the fine-tuning learner of sesame, split by job:
//!
//! - data: [`tsv`] and [`tasks`] (GLUE/HANS readers whose errors name file and line), [`batching`], [`shapes`]
//!   (the shape plan of the GPU backends);
//! - the recipe: [`config`] ([`TrainConfig`], BERT's defaults), [`optim`], [`schedule`], [`loss_scale`] (f16);
//! - the loop: [`trainer`] (train, evaluate, keep the best), [`warmup`] (each planned shape once, first),
//!   [`checkpoint`] (save and restore), [`observer`];
//! - outputs: [`predict`], [`metrics`], [`export`] (Hugging Face directories), [`hans`], [`submission`];
//! - the run directory and its typed records: [`run`]; the whole job from files to run directory: [`job`].

pub mod batching;
pub mod checkpoint;
pub mod config;
pub mod device_memory;
pub mod early_stopping;
pub mod error;
pub mod evaluation;
pub mod export;
pub mod finite_checks;
pub mod fsio;
pub mod hans;
pub mod inputs;
pub mod job;
pub mod loss_scale;
pub mod metrics;
pub mod observer;
pub mod optim;
pub mod predict;
pub mod run;
pub mod schedule;
pub mod shapes;
pub mod state;
pub mod step;
pub mod submission;
pub mod tasks;
pub mod trainer;
pub mod tsv;
pub mod warmup;

pub use checkpoint::SavePolicy;
pub use config::TrainConfig;
pub use error::{DataError, TrainError};
pub use inputs::TrainInputs;
pub use job::{finetune, load_split, FinetuneJob, Start};
pub use observer::{Silent, TrainObserver};
pub use predict::{predict, ModelOutputs};
pub use run::{MetricsLine, RunDir, RunReport, StepLog};
pub use state::TrainerState;
pub use tasks::{Dataset, Example, Label, MalformedRows, Split, Task};
pub use trainer::{train, RunControl, TrainOutcome};
pub use tsv::{TsvFile, TsvRecord};
