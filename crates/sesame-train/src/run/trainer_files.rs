//! The result files `transformers`' `Trainer` writes (`trainer_state.json` with `log_history`,
//! `train_results.json`, `eval_results.json`, `all_results.json`), derived from sesame's own records, so that
//! scripts written for `run_glue.py` output read a sesame run unchanged.
//!
//! Field names and types follow `transformers` 5.17 (checked against a `Trainer` run). The evaluation in
//! `eval_results.json` is the best one: sesame always keeps the best model, as `load_best_model_at_end=True`.
//! `total_flos` is `transformers`' estimate, 6 × non-embedding parameters × token positions trained.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::dir::{RunDir, BEST};
use super::records::MetricsLine;
use crate::error::TrainError;
use crate::fsio::write_atomic;

pub const TRAINER_STATE: &str = "trainer_state.json";
pub const TRAIN_RESULTS: &str = "train_results.json";
pub const EVAL_RESULTS: &str = "eval_results.json";
pub const ALL_RESULTS: &str = "all_results.json";

/// What the Trainer files say that the metrics log does not.
#[derive(Debug, Clone)]
pub struct TrainerSummary<'a> {
    /// The metric that selects the best model (`metric_for_best_model`).
    pub selection_metric: &'a str,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub epochs: usize,
    pub updates_per_epoch: usize,
    pub max_steps: usize,
    pub global_step: usize,
    pub train_batch_size: usize,
    pub eval_batch_size: usize,
    pub logging_steps: usize,
    pub eval_steps: Option<usize>,
    pub save_steps: Option<usize>,
    pub early_stopping_patience: Option<usize>,
    pub patience_counter: usize,
    pub train_seconds: f64,
    pub total_flos: f64,
}

/// The best evaluation by the selection metric: `(score, step, its log entry)`.
type Best = (f64, usize, Map<String, Value>);

/// `log_history` from the metrics log (without the closing training entry), the best evaluation, and the
/// training loss averaged over updates (`train_loss`).
fn log_history(
    lines: &[MetricsLine],
    summary: &TrainerSummary<'_>,
) -> (Vec<Value>, Option<Best>, f64) {
    let epoch_of = |step: usize| step as f64 / summary.updates_per_epoch.max(1) as f64;
    let mut history = Vec::new();
    let mut best: Option<Best> = None;
    let (mut loss_sum, mut last_step) = (0.0, 0);
    for line in lines {
        match line {
            MetricsLine::Train(s) => {
                loss_sum += s.loss * (s.step - last_step) as f64;
                last_step = s.step;
                history.push(json!({
                    "epoch": epoch_of(s.step),
                    "grad_norm": s.grad_norm,
                    "learning_rate": s.learning_rate,
                    "loss": s.loss,
                    "step": s.step,
                }));
            }
            MetricsLine::Eval(e) => {
                let mut entry = eval_entry(&e.metrics, e.loss, e.examples_per_second, summary);
                let score = e.metrics.get(summary.selection_metric).copied();
                entry.insert("epoch".into(), epoch_of(e.step).into());
                if let Some(score) = score {
                    if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                        best = Some((score, e.step, entry.clone()));
                    }
                }
                entry.insert("step".into(), e.step.into());
                history.push(Value::Object(entry));
            }
        }
    }
    (history, best, loss_sum / last_step.max(1) as f64)
}

/// `stateful_callbacks` of `trainer_state.json`: early stopping's state where it is on, and the final control
/// flags of a finished run.
fn stateful_callbacks(summary: &TrainerSummary<'_>) -> Map<String, Value> {
    let mut callbacks = Map::new();
    if let Some(patience) = summary.early_stopping_patience {
        callbacks.insert(
            "EarlyStoppingCallback".into(),
            json!({
                "args": {"early_stopping_patience": patience, "early_stopping_threshold": 0.0},
                "attributes": {"early_stopping_patience_counter": summary.patience_counter},
            }),
        );
    }
    callbacks.insert(
        "TrainerControl".into(),
        json!({
            "args": {
                "should_epoch_stop": false,
                "should_evaluate": false,
                "should_log": false,
                "should_save": true,
                "should_training_stop": true,
            },
            "attributes": {},
        }),
    );
    callbacks
}

/// Writes the four files into `run` from its `metrics.jsonl`.
pub fn write_trainer_files(run: &RunDir, summary: &TrainerSummary<'_>) -> Result<(), TrainError> {
    let (mut history, best, train_loss) = log_history(&run.metrics()?, summary);
    let epoch_of = |step: usize| step as f64 / summary.updates_per_epoch.max(1) as f64;
    let epoch = epoch_of(summary.global_step);
    let runtime = summary.train_seconds.max(1e-9);
    let mut train = Map::new();
    train.insert("epoch".into(), epoch.into());
    train.insert("total_flos".into(), summary.total_flos.into());
    train.insert("train_loss".into(), train_loss.into());
    train.insert("train_runtime".into(), round4(runtime).into());
    train.insert(
        "train_samples_per_second".into(),
        round3((summary.train_examples * summary.epochs) as f64 / runtime).into(),
    );
    train.insert(
        "train_steps_per_second".into(),
        round3(summary.max_steps as f64 / runtime).into(),
    );
    let mut last = train.clone();
    last.insert("step".into(), summary.global_step.into());
    history.push(Value::Object(last));
    let mut train_results = train.clone();
    train_results.insert("train_samples".into(), summary.train_examples.into());

    let mut eval_results = best
        .as_ref()
        .map(|(_, _, entry)| entry.clone())
        .unwrap_or_default();
    eval_results.insert("epoch".into(), epoch.into());
    eval_results.insert("eval_samples".into(), summary.dev_examples.into());
    let mut all = train_results.clone();
    all.extend(eval_results.clone());

    let best_dir = run.file(BEST);
    let state = json!({
        "best_global_step": best.as_ref().map(|(_, step, _)| *step),
        "best_metric": best.as_ref().map(|(score, _, _)| *score),
        "best_model_checkpoint": best.as_ref().map(|_| best_dir.display().to_string()),
        "epoch": epoch,
        "eval_steps": summary.eval_steps.unwrap_or(summary.updates_per_epoch),
        "global_step": summary.global_step,
        "is_hyper_param_search": false,
        "is_local_process_zero": true,
        "is_world_process_zero": true,
        "log_history": history,
        "logging_steps": summary.logging_steps,
        "max_steps": summary.max_steps,
        "num_input_tokens_seen": 0,
        "num_train_epochs": summary.epochs,
        "save_steps": summary.save_steps.unwrap_or(0),
        "stateful_callbacks": stateful_callbacks(summary),
        "total_flos": summary.total_flos,
        "train_batch_size": summary.train_batch_size,
        "trial_name": null,
        "trial_params": null,
    });
    write_json(&run.file(TRAINER_STATE), &state)?;
    write_json(&run.file(TRAIN_RESULTS), &Value::Object(train_results))?;
    write_json(&run.file(EVAL_RESULTS), &Value::Object(eval_results))?;
    write_json(&run.file(ALL_RESULTS), &Value::Object(all))
}

/// `eval_<metric>`, `eval_loss` and the throughput fields of one evaluation.
fn eval_entry(
    metrics: &BTreeMap<String, f64>,
    loss: Option<f64>,
    examples_per_second: f64,
    summary: &TrainerSummary<'_>,
) -> Map<String, Value> {
    let mut entry = Map::new();
    for (name, value) in metrics {
        entry.insert(format!("eval_{name}"), (*value).into());
    }
    if let Some(loss) = loss {
        entry.insert("eval_loss".into(), loss.into());
    }
    let runtime = summary.dev_examples as f64 / examples_per_second.max(1e-9);
    let steps = summary
        .dev_examples
        .div_ceil(summary.eval_batch_size.max(1));
    entry.insert("eval_runtime".into(), round4(runtime).into());
    entry.insert(
        "eval_samples_per_second".into(),
        round3(examples_per_second).into(),
    );
    entry.insert(
        "eval_steps_per_second".into(),
        round3(steps as f64 / runtime.max(1e-9)).into(),
    );
    entry
}

/// `transformers` rounds runtimes to 4 decimals and rates to 3.
fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// Indented by 4 spaces and key-sorted, as `Trainer.save_metrics` writes.
fn write_json(path: &Path, value: &Value) -> Result<(), TrainError> {
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    serde::Serialize::serialize(value, &mut serializer).map_err(|source| {
        TrainError::Serialize {
            path: path.to_path_buf(),
            source,
        }
    })?;
    write_atomic(path, &bytes)
}
