//! The run directory: where a fine-tuning run keeps everything, and the typed records it holds.
//!
//! ```text
//! RUN/.lock                       held by the process writing the run (its id inside); see lock.rs
//! RUN/config.json                 the resolved job (FinetuneJob): task, paths, recipe, model variant
//! RUN/metrics.jsonl               one MetricsLine per logged step and per evaluation, appended and flushed
//! RUN/checkpoints/LATEST          name of the newest complete checkpoint (replaced atomically)
//! RUN/checkpoints/checkpoint-N/   after N updates: model.safetensors, optimizer.safetensors, state.json
//! RUN/best/                       the best model on dev, as a Hugging Face directory (see export.rs)
//! RUN/final_metrics.json          FinalMetrics: best epoch, best and per-epoch dev metrics
//! RUN/report.json                 RunReport: what the run achieved, in how long
//! RUN/trainer_state.json, train_results.json, eval_results.json, all_results.json
//!                                 the same in the files `transformers`' Trainer writes (trainer_files.rs)
//! ```
//!
//! The learner writes these records and every reader (`evaluate`, `report`, tests) reads them through the
//! same types, so a field cannot be renamed on one side only.

mod dir;
mod lock;
mod records;
mod trainer_files;

pub use dir::{
    checkpoint_name, RunDir, SavedCheckpoint, BEST, CONFIG, FINAL_METRICS, METRICS, REPORT,
};
pub use lock::{RunLock, LOCK};
pub use records::{EvalLog, FinalMetrics, MetricsLine, RunReport, StartupCost, StepLog};
pub use trainer_files::{
    write_trainer_files, TrainerSummary, ALL_RESULTS, EVAL_RESULTS, TRAINER_STATE, TRAIN_RESULTS,
};
