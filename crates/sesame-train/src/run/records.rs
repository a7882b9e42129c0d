//! The typed records of a run directory, serde both ways.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::tasks::Task;

/// One logged training step (a `{"type": "train", …}` line of `metrics.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    pub step: usize,
    #[serde(default)]
    pub total_steps: usize,
    pub epoch: usize,
    /// Mean training loss since the previous log line.
    pub loss: f64,
    #[serde(rename = "lr")]
    pub learning_rate: f64,
    /// Global gradient norm before clipping, of the last update.
    pub grad_norm: f64,
    pub examples_per_second: f64,
}

/// One evaluation on dev (a `{"type": "eval", …}` line): the task's metrics by name, and the mean SE gate per
/// layer when the model has a gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalLog {
    pub epoch: usize,
    pub step: usize,
    /// The task loss on dev (`eval_loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Evaluation throughput (wall-clock; the only field that differs between identical runs).
    #[serde(default)]
    pub examples_per_second: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se_gates: Option<Vec<f64>>,
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

/// A line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MetricsLine {
    Train(StepLog),
    Eval(EvalLog),
}

/// `final_metrics.json`: the dev metrics of every epoch and of the best one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalMetrics {
    pub task: Task,
    /// 0-based epoch of the best dev score.
    pub best_epoch: Option<usize>,
    pub best: BTreeMap<String, f64>,
    /// Dev metrics after each epoch.
    pub history: Vec<BTreeMap<String, f64>>,
    /// Optimizer updates made.
    pub updates: usize,
}

/// `report.json`: what a finished run achieved. Its presence marks the run as complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub task: Task,
    pub run_dir: PathBuf,
    pub best_epoch: Option<usize>,
    pub best_metrics: BTreeMap<String, f64>,
    /// Dev metrics of the model after the last epoch: what `run_glue.py` reports (it evaluates the final
    /// model), and so the number to compare with `transformers`.
    #[serde(default)]
    pub final_metrics: BTreeMap<String, f64>,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub skipped_rows: usize,
    pub wall_seconds: f64,
}
