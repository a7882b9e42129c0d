//! Evaluation on dev during training: metrics, the eval line of `metrics.jsonl`, and the best model so far
//! exported to the run's `best/` (with its dev predictions, metrics and mean SE gates).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::AutodiffModule;
use sesame_core::{SequenceClassifier, SesameAutodiffBackend};

use crate::batching::Padding;
use crate::error::TrainError;
use crate::export::export_model;
use crate::fsio::write_json_atomic;
use crate::inputs::TrainInputs;
use crate::metrics::{selection_metric, task_metrics};
use crate::predict::{predict, prediction_table};
use crate::run::{EvalLog, MetricsLine, RunDir, BEST};
use crate::state::TrainerState;

/// How dev is evaluated: the batch size and the run's padding.
pub struct Evaluation<'a> {
    pub batch_size: usize,
    pub padding: &'a Padding,
}

/// Evaluates on dev, logs, and exports the model to `best/` when the selection metric improves.
pub fn evaluate_and_keep_best<B: SesameAutodiffBackend>(
    model: &SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    eval: &Evaluation<'_>,
    run: &RunDir,
    state: &mut TrainerState,
    epoch: usize,
    device: &B::Device,
) -> Result<BTreeMap<String, f64>, TrainError> {
    let inner = model.valid();
    let clock = Instant::now();
    let outputs = predict(
        &inner,
        inputs.dev,
        eval.batch_size,
        inputs.pad_id,
        eval.padding,
        device,
    )?;
    let predictions = outputs
        .against(inputs.task, inputs.dev)
        .ok_or(TrainError::Unlabelled { split: "dev" })?;
    let metrics = task_metrics(inputs.task, &predictions);
    let mean_gates = outputs.mean_gates();
    let gate_spread = outputs.gate_spread();
    run.log(&MetricsLine::Eval(EvalLog {
        epoch,
        step: state.updates,
        loss: outputs.loss(inputs.task, inputs.dev),
        examples_per_second: inputs.dev.len() as f64 / clock.elapsed().as_secs_f64().max(1e-9),
        se_gates: mean_gates.clone(),
        se_gate_spread: gate_spread.clone(),
        metrics: metrics.clone(),
    }))?;
    let score = metrics
        .get(selection_metric(inputs.task))
        .copied()
        .unwrap_or(f64::NEG_INFINITY);
    if state.best_score.is_none_or(|best| score > best) {
        state.patience_counter = 0;
        state.best_score = Some(score);
        state.best_epoch = Some(epoch);
        state.best_metrics = metrics.clone();
        let predictions_tsv = prediction_table(inputs.task, &outputs, inputs.dev);
        run.replace_dir(BEST, |dir| {
            export_model(&inner, inputs.task, inputs.tokenizer_dir, dir)?;
            crate::fsio::write_atomic(
                &dir.join("predictions_dev.tsv"),
                predictions_tsv.as_bytes(),
            )?;
            write_json_atomic(&dir.join("dev_metrics.json"), &metrics, true)?;
            if let Some(gates) = &mean_gates {
                // Mean SE gate per layer on dev, for the paper's Fig. 4.
                write_json_atomic(&dir.join("se_gates.json"), gates, false)?;
            }
            if let Some(spread) = &gate_spread {
                // Their standard deviation across dev examples: ~0 when the gate ignores its input.
                write_json_atomic(&dir.join("se_gate_spread.json"), spread, false)?;
            }
            Ok(())
        })?;
    } else {
        state.patience_counter += 1;
    }
    Ok(metrics)
}
