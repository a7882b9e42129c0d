//! The typed records of a run directory, serde both ways.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sesame_core::kernels::KernelCounts;

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
    /// The standard deviation of each layer's gate across dev examples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub se_gate_spread: Option<Vec<f64>>,
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
    /// What the start of the (last) process of the run cost.
    #[serde(default)]
    pub startup: StartupCost,
}

/// What the start of a training process cost: on the GPU backends mostly kernel compilation and autotuning. The
/// kernel counts are `null` where nothing counted them (the CPU backends; a library caller that did not call
/// `sesame::runtime::count_kernels`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartupCost {
    /// Seconds from the start of the job to the end of its first optimizer update (the device synchronised).
    pub seconds_to_first_update: Option<f64>,
    /// Seconds spent running each planned shape once before training (0 without a shape plan).
    pub warmup_seconds: f64,
    /// The shape plan's `[rows, length]` shapes; empty with dynamic padding.
    pub planned_shapes: Vec<[usize; 2]>,
    /// The process's kernel work up to the end of the first update.
    pub kernels_at_first_update: Option<KernelCounts>,
    /// The process's kernel work when the run ended.
    pub kernels_in_all: Option<KernelCounts>,
    /// Where compiled kernels and autotune results are kept across processes, if anywhere.
    pub kernel_cache: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::MetricsLine;

    /// A line the `run_json` fuzz target found: with serde_json's default float parser, 11.624261220321082
    /// read, written and read again came back as …085. Every f64 of a record must read back exactly.
    #[test]
    fn a_metrics_line_reads_back_to_the_same_bytes() {
        let line = r#"{"type":"train","step":12,"total_steps":0,"epoch":0,"loss":0.7451765537261963,"lr":3e-6,"grad_norm":0.5590332746505737,"examples_per_second":11.624261220321082}"#;
        let parsed: MetricsLine = serde_json::from_str(line).expect("a metrics line");
        let written = serde_json::to_string(&parsed).expect("serialise");
        let reread: MetricsLine = serde_json::from_str(&written).expect("read back");
        assert_eq!(serde_json::to_string(&reread).expect("serialise"), written);
    }
}
