//! The fine-tuning loop: BERT's recipe (methods.md §1.6) on any `SequenceClassifier` variant, with evaluation,
//! best-model export, crash-safe checkpoints and exact resumption at epoch boundaries.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use sesame_core::io::checkpoint::param_table;
use sesame_core::io::host::to_host;
use sesame_core::SequenceClassifier;

use crate::batching::{epoch_batches, TokenizedSet};
use crate::checkpoint::{restore_checkpoint, save_checkpoint};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::export::export_model;
use crate::fsio::write_json_atomic;
use crate::metrics::{selection_metric, task_metrics};
use crate::observer::TrainObserver;
use crate::optim::{BertAdamW, StepRates};
use crate::predict::{predict, prediction_table};
use crate::rng::SplitMix64;
use crate::run::{EvalLog, FinalMetrics, MetricsLine, RunDir, StepLog, FINAL_METRICS};
use crate::schedule::{linear_warmup_decay, warmup_steps};
use crate::tasks::Task;

/// Where a run stands; saved with every checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub epochs_done: usize,
    pub updates: usize,
    pub best_score: Option<f64>,
    pub best_epoch: Option<usize>,
    pub best_metrics: BTreeMap<String, f64>,
    /// Dev metrics after each epoch.
    pub history: Vec<BTreeMap<String, f64>>,
}

/// The result of [`train`].
pub struct TrainOutcome<B: AutodiffBackend> {
    /// The model after the last epoch.
    pub model: SequenceClassifier<B>,
    pub state: TrainerState,
    /// The exported best model on dev.
    pub best_dir: PathBuf,
}

/// Everything [`train`] needs besides the model.
pub struct TrainInputs<'a> {
    /// The task the sets belong to (its metrics select the best model).
    pub task: Task,
    pub train: &'a TokenizedSet,
    pub dev: &'a TokenizedSet,
    pub pad_id: u32,
    /// Where the tokenizer files come from (copied into exported models).
    pub tokenizer_dir: &'a Path,
}

/// Fine-tunes `model` on `inputs.train`, evaluating on `inputs.dev` after every epoch, writing the run to `run`.
/// With `resume`, continues from the run's latest checkpoint (same result as an uninterrupted run).
pub fn train<B: AutodiffBackend>(
    mut model: SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>, TrainError> {
    config.validate()?;
    let train_set = inputs.train;
    if train_set.is_empty() {
        return Err(TrainError::Invalid("the training set is empty".into()));
    }
    let n_train = config
        .max_train_examples
        .map_or(train_set.len(), |m| m.min(train_set.len()));
    let lengths: Vec<usize> = train_set.encodings[..n_train]
        .iter()
        .map(|e| e.len())
        .collect();
    let total = config.updates_per_epoch(n_train) * config.epochs;
    let warmup = warmup_steps(config.warmup_ratio, total);
    let fresh_lr = config.fresh_learning_rate.unwrap_or(config.learning_rate);

    let mut optim = BertAdamW::<B>::new(config.optimizer.clone());
    let mut state = TrainerState::default();
    if resume {
        if let Some(dir) = run.latest_checkpoint()? {
            restore_checkpoint(&dir, &mut model, &mut optim, &mut state, device)?;
            observer.on_message(&format!(
                "resumed from {} (epoch {}, update {})",
                dir.display(),
                state.epochs_done,
                state.updates
            ));
        }
    }
    let fresh = fresh_param_ids(&model);
    let best_dir = run.file("best");
    observer.on_start(total, state.updates);

    for epoch in state.epochs_done..config.epochs {
        // Dropout and shuffling depend only on (seed, epoch): a resumed run replays them exactly.
        let epoch_seed = config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(epoch as u64 + 1);
        B::seed(device, epoch_seed);
        model.dropout_stream().seed(epoch_seed);
        let mut rng = SplitMix64::derive(config.seed, epoch as u64);
        let batches = epoch_batches(
            &lengths,
            config.batch_size,
            Some(&mut rng),
            config.bucket_by_length,
        );
        let mut accumulator = GradientsAccumulator::<SequenceClassifier<B>>::new();
        let mut pending = 0usize;
        let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
        let mut loss_count = 0usize;
        let mut seen = 0usize;
        let mut clock = Instant::now();
        for (i, indices) in batches.iter().enumerate() {
            let batch = train_set.batch(indices, inputs.pad_id, config.pad_to_multiple);
            let targets = train_set.targets::<B>(indices, device)?;
            let out = model.forward(batch.to_input(device))?;
            let loss = model.loss(&out, targets)?;
            let detached = loss.clone().inner();
            loss_sum = Some(match loss_sum.take() {
                Some(s) => s + detached,
                None => detached,
            });
            loss_count += 1;
            seen += indices.len();
            let loss = if config.gradient_accumulation > 1 {
                loss / config.gradient_accumulation as f64
            } else {
                loss
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            accumulator.accumulate(&model, grads);
            pending += 1;
            let last = i + 1 == batches.len();
            if pending < config.gradient_accumulation && !last {
                continue;
            }
            pending = 0;
            let factor = linear_warmup_decay(state.updates, warmup, total);
            let rates = StepRates {
                lr: config.learning_rate * factor,
                fresh_lr: fresh_lr * factor,
            };
            let (updated, norm) = optim.step(model, accumulator.grads(), rates, &fresh);
            model = updated;
            state.updates += 1;

            if state.updates % config.log_every == 0 || last {
                let loss = match loss_sum.take() {
                    Some(sum) => scalar(sum)? / loss_count.max(1) as f64,
                    None => 0.0,
                };
                let elapsed = clock.elapsed().as_secs_f64().max(1e-9);
                let log = StepLog {
                    step: state.updates,
                    total_steps: total,
                    epoch,
                    loss,
                    learning_rate: rates.lr,
                    grad_norm: match norm {
                        Some(norm) => scalar(norm)?,
                        None => 0.0,
                    },
                    examples_per_second: seen as f64 / elapsed,
                };
                run.log(&MetricsLine::Train(log.clone()))?;
                observer.on_step(&log);
                loss_count = 0;
                seen = 0;
                clock = Instant::now();
            }
            if config.eval_every.is_some_and(|k| state.updates % k == 0) && !last {
                let metrics =
                    evaluate_and_keep_best(&model, inputs, config, run, &mut state, epoch, device)?;
                observer.on_eval(epoch, state.updates, &metrics);
            }
        }
        let metrics =
            evaluate_and_keep_best(&model, inputs, config, run, &mut state, epoch, device)?;
        state.history.push(metrics.clone());
        observer.on_eval(epoch, state.updates, &metrics);
        state.epochs_done = epoch + 1;
        save_checkpoint(run, &format!("epoch-{}", epoch + 1), &model, &optim, &state)?;
        if state.epochs_done < config.epochs && observer.should_stop() {
            observer.on_message(&format!(
                "stopped after epoch {}; resume to continue",
                state.epochs_done
            ));
            break;
        }
    }
    run.write_json(
        FINAL_METRICS,
        &FinalMetrics {
            task: inputs.task,
            best_epoch: state.best_epoch,
            best: state.best_metrics.clone(),
            history: state.history.clone(),
            updates: state.updates,
        },
    )?;
    Ok(TrainOutcome {
        model,
        state,
        best_dir,
    })
}

/// The single value of a `[1]` tensor (a host read: only at logging steps).
fn scalar<B: Backend>(t: Tensor<B, 1>) -> Result<f64, TrainError> {
    Ok(to_host(t)?.first().map_or(f64::NAN, |v| f64::from(*v)))
}

/// Evaluates on dev, logs, and exports the model to `best/` when the selection metric improves.
fn evaluate_and_keep_best<B: AutodiffBackend>(
    model: &SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    state: &mut TrainerState,
    epoch: usize,
    device: &B::Device,
) -> Result<BTreeMap<String, f64>, TrainError> {
    let inner = model.valid();
    let outputs = predict(
        &inner,
        inputs.dev,
        config.eval_batch_size,
        inputs.pad_id,
        config.pad_to_multiple,
        device,
    )?;
    let predictions = outputs
        .against(inputs.task, inputs.dev)
        .ok_or_else(|| TrainError::Invalid("the dev set has unlabelled examples".into()))?;
    let metrics = task_metrics(inputs.task, &predictions);
    let mean_gates = outputs.mean_gates();
    run.log(&MetricsLine::Eval(EvalLog {
        epoch,
        step: state.updates,
        se_gates: mean_gates.clone(),
        metrics: metrics.clone(),
    }))?;
    let score = metrics
        .get(selection_metric(inputs.task))
        .copied()
        .unwrap_or(f64::NEG_INFINITY);
    if state.best_score.is_none_or(|best| score > best) {
        state.best_score = Some(score);
        state.best_epoch = Some(epoch);
        state.best_metrics = metrics.clone();
        let predictions_tsv = prediction_table(inputs.task, &outputs, inputs.dev);
        run.replace_dir("best", |dir| {
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
            Ok(())
        })?;
    }
    Ok(metrics)
}

/// Ids of the parameters a pretrained checkpoint does not provide (head, gate, mix, localness), which train
/// at the head learning rate.
fn fresh_param_ids<B: Backend>(model: &SequenceClassifier<B>) -> HashSet<ParamId> {
    param_table(model)
        .into_iter()
        .filter(|p| p.origin.is_fresh())
        .map(|p| p.id)
        .collect()
}
