//! Where a run stands: the trainer's counters and records that every checkpoint saves, so that a resumed run
//! continues exactly where the interrupted one was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::loss_scale::LossScale;

/// Where a run stands; saved with every checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainerState {
    pub epochs_done: usize,
    /// Micro-batches of epoch `epochs_done` already trained (0 at an epoch boundary).
    pub batches_done: usize,
    pub updates: usize,
    pub best_score: Option<f64>,
    pub best_epoch: Option<usize>,
    pub best_metrics: BTreeMap<String, f64>,
    /// Dev metrics after each epoch.
    pub history: Vec<BTreeMap<String, f64>>,
    /// Loss sum and micro-batch count since the last log line, so that a resumed run logs the same numbers.
    pub log_loss_sum: f64,
    pub log_loss_count: usize,
    /// Length of `metrics.jsonl` when the checkpoint was written; a resumed run cuts the log back to it.
    pub metrics_len: u64,
    /// Evaluations in a row without a better selection metric (early stopping).
    pub patience_counter: usize,
    /// Token positions trained on, padding included (`transformers`' FLOP estimate counts them).
    pub tokens_seen: u64,
    /// Wall-clock seconds of training so far, evaluations included, over every process of the run.
    pub train_seconds: f64,
    /// Stopped because the dev metric stopped improving.
    pub stopped_early: bool,
    /// The dynamic loss scale of f16 mixed precision (`None` in the other precisions).
    pub loss_scale: Option<LossScale>,
    /// Updates skipped because f16 gradients overflowed; the learning-rate schedule did not advance over them.
    pub skipped_updates: usize,
}
