//! The fine-tuning loop: BERT's recipe (methods.md §1.6) on any `SequenceClassifier` variant, with evaluation,
//! best-model export, crash-safe checkpoints every N updates and exact resumption at any of them.

use sesame_core::fused::use_precision;
use sesame_core::{SesameAutodiffBackend, SesameBackend};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module, ParamId};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use sesame_core::io::checkpoint::param_table;
use sesame_core::ops::host::to_host;
use sesame_core::SequenceClassifier;

use crate::batching::{epoch_batches, prefetch_batches, Padding, TokenizedSet};
use crate::checkpoint::{restore_checkpoint, save_checkpoint, SavePolicy};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::export::export_model;
use crate::fsio::write_json_atomic;
use crate::loss_scale::LossScale;
use crate::metrics::{selection_metric, task_metrics};
use crate::observer::TrainObserver;
use crate::optim::{BertAdamW, StepRates};
use crate::predict::{predict, prediction_table};
use crate::run::{
    checkpoint_name, write_trainer_files, EvalLog, FinalMetrics, MetricsLine, RunDir, StartupCost,
    StepLog, TrainerSummary, BEST, FINAL_METRICS,
};
use crate::schedule::{linear_warmup_decay, warmup_steps};
use crate::shapes::{RowWeights, ShapePlan};
use crate::state::TrainerState;
use crate::step::{MicroBatch, TrainStep};
use crate::tasks::Task;
use crate::warmup::warm_up;
use sesame_core::rng::SplitMix64;

/// The result of [`train`].
pub struct TrainOutcome<B: AutodiffBackend> {
    /// The model after the last epoch.
    pub model: SequenceClassifier<B>,
    pub state: TrainerState,
    /// The exported best model on dev.
    pub best_dir: PathBuf,
    /// What the start of this process cost (`seconds_to_first_update` counted from the call of [`train`]).
    pub startup: StartupCost,
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

/// How [`train`] treats the run directory: whether it continues from the latest checkpoint, and when it
/// writes checkpoints.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunControl {
    /// Continue from the run's latest checkpoint; an error if there is none.
    pub resume: bool,
    pub save: SavePolicy,
}

/// Fine-tunes `model` on `inputs.train`, evaluating on `inputs.dev` after every epoch, writing the run to `run`.
/// With `control.resume`, continues from the run's latest checkpoint, at any step: the data order, the random
/// streams, the optimizer and the schedule are restored, so the result equals an uninterrupted run's.
pub fn train<B: SesameAutodiffBackend>(
    mut model: SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    control: &RunControl,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>, TrainError> {
    config.validate()?;
    control.save.validate()?;
    use_precision::<B>(config.precision, device)?;
    let train_set = inputs.train;
    if train_set.is_empty() {
        return Err(TrainError::EmptyTrainingSet {
            source_name: format!("the {} training set", inputs.task.name()),
        });
    }
    let n_train = config
        .max_train_examples
        .map_or(train_set.len(), |m| m.min(train_set.len()));
    let lengths: Vec<usize> = train_set.encodings[..n_train]
        .iter()
        .map(|e| e.len())
        .collect();
    let padding = padding_for(&model, config, &lengths, inputs.dev);
    let eval_batch_size = padding.rows().unwrap_or(config.eval_batch_size);
    let total = config.updates_per_epoch(n_train) * config.epochs;
    let called = Instant::now();
    let mut startup = StartupCost {
        planned_shapes: match &padding {
            Padding::Plan(plan) => plan.shapes(),
            Padding::Longest { .. } => Vec::new(),
        },
        kernel_cache: sesame_core::kernels::cache_dir(),
        ..StartupCost::default()
    };
    let warmup = warmup_steps(config.warmup_ratio, total);
    let fresh_lr = config.fresh_learning_rate.unwrap_or(config.learning_rate);

    let mut optim = BertAdamW::<B>::new(config.optimizer.clone());
    let mut state = TrainerState {
        loss_scale: config.precision.scales_loss().then(LossScale::default),
        ..TrainerState::default()
    };
    if control.resume {
        let dir = run
            .latest_checkpoint()?
            .ok_or_else(|| TrainError::NoCheckpoint {
                dir: run.path.clone(),
            })?;
        restore_checkpoint(&dir, &mut model, &mut optim, &mut state, device)?;
        run.truncate_metrics(state.metrics_len)?;
        observer.on_message(&format!(
            "resumed from {} (epoch {}, update {})",
            dir.display(),
            state.epochs_done,
            state.updates
        ));
    }
    run.recover_dir(BEST)?;
    if let Padding::Plan(plan) = &padding {
        startup.warmup_seconds = warm_up(&model, plan, config, inputs.pad_id, device, observer)?;
    }
    let mut step = TrainStep::new(optim, fresh_param_ids(&model), config.gradient_accumulation);
    let eval = Evaluation {
        batch_size: eval_batch_size,
        padding: &padding,
    };
    let best_dir = run.file(BEST);
    observer.on_start(total, state.updates);
    let mut checks = FiniteChecks::default();
    let mut wall = Instant::now();
    let patience_spent = |state: &TrainerState| {
        config
            .early_stopping_patience
            .is_some_and(|p| state.patience_counter >= p)
    };

    for epoch in state.epochs_done..config.epochs {
        if state.stopped_early {
            break;
        }
        let mut rng = SplitMix64::derive(config.seed, epoch as u64);
        let batches = epoch_batches(
            &lengths,
            config.batch_size,
            Some(&mut rng),
            config.bucket_by_length,
        );
        let mut update_loss: Option<Tensor<B::InnerBackend, 1>> = None;
        let mut seen = 0usize;
        let mut clock = Instant::now();
        // Batches are assembled on a helper thread, one or two ahead of this loop (`prefetch_batches`).
        let done = state.batches_done;
        model = std::thread::scope(|scope| -> Result<SequenceClassifier<B>, TrainError> {
            let mut model = model;
            let prepared =
                prefetch_batches(scope, train_set, &batches[done..], inputs.pad_id, &padding);
            // The helper thread sends the batches of `batches[done..]` in order (should it panic, the scope
            // re-raises the panic when this loop ends).
            let steps = batches.iter().enumerate().skip(done).zip(prepared);
            for ((i, indices), batch) in steps {
                // Dropout depends only on (seed, epoch, batch): a run resumed at any update replays it exactly.
                let seed = batch_seed(config.seed, epoch, i);
                B::seed(device, seed);
                model.dropout_stream().seed(seed);
                state.tokens_seen += (indices.len() * batch.seq_len) as u64;
                let targets = train_set.targets::<B>(indices, batch.batch_size, device)?;
                // Under a shape plan the batch ends with filler rows, which the loss leaves out.
                let rows = padding
                    .rows()
                    .map(|_| RowWeights::<B>::new(indices.len(), batch.batch_size, device).0);
                let micro = MicroBatch {
                    input: batch.to_input(device),
                    targets,
                    rows,
                };
                let loss = TrainStep::loss(&model, micro)?;
                let detached = loss.clone().inner();
                update_loss = Some(match update_loss.take() {
                    Some(s) => s.add(detached),
                    None => detached,
                });
                seen += indices.len();
                let full = step.backward(&model, loss, state.loss_scale.as_ref());
                let last = i + 1 == batches.len();
                if !full && !last {
                    continue;
                }
                let factor =
                    linear_warmup_decay(state.updates - state.skipped_updates, warmup, total);
                let rates = StepRates {
                    lr: config.learning_rate * factor,
                    fresh_lr: fresh_lr * factor,
                };
                let pending = step.pending();
                let done = step.update(model, rates, state.loss_scale.as_mut())?;
                model = done.model;
                let norm = done.norm;
                state.updates += 1;
                if !done.applied {
                    // f16 gradients overflowed: the update was skipped, its loss is not logged.
                    state.skipped_updates += 1;
                    update_loss = None;
                }
                if startup.seconds_to_first_update.is_none() {
                    sesame_core::ops::host::sync::<B>(device)?;
                    startup.seconds_to_first_update = Some(called.elapsed().as_secs_f64());
                    startup.kernels_at_first_update = sesame_core::kernels::counts();
                }
                state.batches_done = i + 1;
                if let Some(loss) = update_loss.take() {
                    checks.push(epoch, state.updates, loss, pending, norm);
                }

                if state.updates.is_multiple_of(config.log_every) || last {
                    let grad_norm = checks.flush(&mut state)?;
                    let elapsed = clock.elapsed().as_secs_f64().max(1e-9);
                    let log = StepLog {
                        step: state.updates,
                        total_steps: total,
                        epoch,
                        loss: state.log_loss_sum / state.log_loss_count.max(1) as f64,
                        learning_rate: rates.lr,
                        grad_norm: grad_norm.unwrap_or(0.0),
                        examples_per_second: seen as f64 / elapsed,
                    };
                    run.log(&MetricsLine::Train(log.clone()))?;
                    observer.on_step(&log);
                    state.log_loss_sum = 0.0;
                    state.log_loss_count = 0;
                    seen = 0;
                    clock = Instant::now();
                }
                if last {
                    break;
                }
                if config
                    .eval_every
                    .is_some_and(|k| state.updates.is_multiple_of(k))
                {
                    checks.flush(&mut state)?;
                    let metrics = evaluate_and_keep_best(
                        &model, inputs, &eval, run, &mut state, epoch, device,
                    )?;
                    observer.on_eval(epoch, state.updates, &metrics);
                    if patience_spent(&state) {
                        state.stopped_early = true;
                        break;
                    }
                }
                if control
                    .save
                    .save_steps
                    .is_some_and(|k| state.updates.is_multiple_of(k))
                {
                    checks.flush(&mut state)?;
                    state.train_seconds += lap(&mut wall);
                    save(run, control, &model, step.optimizer(), &mut state, observer)?;
                }
            }
            Ok(model)
        })?;
        checks.flush(&mut state)?;
        if !state.stopped_early {
            let metrics =
                evaluate_and_keep_best(&model, inputs, &eval, run, &mut state, epoch, device)?;
            state.history.push(metrics.clone());
            observer.on_eval(epoch, state.updates, &metrics);
            state.epochs_done = epoch + 1;
            state.batches_done = 0;
            state.stopped_early = patience_spent(&state) && state.epochs_done < config.epochs;
        }
        state.train_seconds += lap(&mut wall);
        save(run, control, &model, step.optimizer(), &mut state, observer)?;
        if state.stopped_early {
            observer.on_message(&format!(
                "early stopping: no better {} in {} evaluation(s) in a row",
                selection_metric(inputs.task),
                state.patience_counter
            ));
            break;
        }
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
    write_trainer_files(
        run,
        &TrainerSummary {
            selection_metric: selection_metric(inputs.task),
            train_examples: n_train,
            dev_examples: inputs.dev.len(),
            epochs: config.epochs,
            updates_per_epoch: config.updates_per_epoch(n_train),
            max_steps: total,
            global_step: state.updates,
            train_batch_size: config.batch_size,
            eval_batch_size: config.eval_batch_size,
            logging_steps: config.log_every,
            eval_steps: config.eval_every,
            save_steps: control.save.save_steps,
            early_stopping_patience: config.early_stopping_patience,
            patience_counter: state.patience_counter,
            train_seconds: state.train_seconds,
            total_flos: 6.0 * non_embedding_params(&model) as f64 * state.tokens_seen as f64,
        },
    )?;
    startup.kernels_in_all = sesame_core::kernels::counts();
    Ok(TrainOutcome {
        model,
        state,
        best_dir,
        startup,
    })
}

/// Parameters outside the embedding tables (what `transformers` counts for its FLOP estimate).
fn non_embedding_params<B: SesameBackend>(model: &SequenceClassifier<B>) -> usize {
    let embeddings = &model.bert.embeddings;
    model.num_params()
        - embeddings.word_embeddings.num_params()
        - embeddings.position_embeddings.num_params()
        - embeddings
            .token_type_embeddings
            .as_ref()
            .map_or(0, |t| t.num_params())
}

/// Seconds since `clock`, which restarts.
fn lap(clock: &mut Instant) -> f64 {
    let seconds = clock.elapsed().as_secs_f64();
    *clock = Instant::now();
    seconds
}

/// The random seed of micro-batch `batch` of `epoch` (backend random and dropout masks).
fn batch_seed(seed: u64, epoch: usize, batch: usize) -> u64 {
    SplitMix64::derive(
        seed,
        ((epoch as u64) << 32) ^ batch as u64 ^ 0xD0_0000_0000_0000,
    )
    .next_u64()
}

/// Writes checkpoint `checkpoint-<updates>` and reports old ones that could not be removed.
fn save<B: SesameAutodiffBackend>(
    run: &RunDir,
    control: &RunControl,
    model: &SequenceClassifier<B>,
    optim: &BertAdamW<B>,
    state: &mut TrainerState,
    observer: &mut dyn TrainObserver,
) -> Result<(), TrainError> {
    state.metrics_len = run.metrics_len();
    let name = checkpoint_name(state.updates);
    let saved = save_checkpoint(
        run,
        &name,
        model,
        optim,
        state,
        control.save.save_total_limit,
    )?;
    for warning in saved.warnings {
        observer.on_message(&format!("warning: {warning}"));
    }
    Ok(())
}

/// The loss and gradient norm of each update, kept on the device until the next host read (a log line, an
/// evaluation or a checkpoint), then checked for NaN and infinity in one transfer. A non-finite value stops the
/// run naming its epoch and step, before anything computed from it is evaluated or saved.
struct FiniteChecks<B: Backend> {
    pending: Vec<PendingUpdate<B>>,
}

struct PendingUpdate<B: Backend> {
    epoch: usize,
    step: usize,
    /// Sum of the micro-batch losses of the update.
    loss: Tensor<B, 1>,
    batches: usize,
    norm: Option<Tensor<B, 1>>,
}

impl<B: Backend> Default for FiniteChecks<B> {
    fn default() -> Self {
        FiniteChecks {
            pending: Vec::new(),
        }
    }
}

impl<B: Backend> FiniteChecks<B> {
    fn push(
        &mut self,
        epoch: usize,
        step: usize,
        loss: Tensor<B, 1>,
        batches: usize,
        norm: Option<Tensor<B, 1>>,
    ) {
        self.pending.push(PendingUpdate {
            epoch,
            step,
            loss,
            batches,
            norm,
        });
    }

    /// Reads every pending value, adds the losses to the state's log sums, and returns the last gradient norm.
    fn flush(&mut self, state: &mut TrainerState) -> Result<Option<f64>, TrainError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let pending = std::mem::take(&mut self.pending);
        let tensors: Vec<Tensor<B, 1>> = pending
            .iter()
            .flat_map(|u| std::iter::once(u.loss.clone()).chain(u.norm.clone()))
            .collect();
        let values = to_host(Tensor::cat(tensors, 0))?;
        let mut values = values.into_iter().map(f64::from);
        let mut last_norm = None;
        for u in &pending {
            let loss = values.next().unwrap_or(f64::NAN);
            let non_finite = |quantity, value| TrainError::NonFinite {
                quantity,
                value,
                epoch: u.epoch,
                step: u.step,
            };
            if !loss.is_finite() {
                return Err(non_finite("loss", loss));
            }
            if u.norm.is_some() {
                let norm = values.next().unwrap_or(f64::NAN);
                if !norm.is_finite() {
                    return Err(non_finite("gradient norm", norm));
                }
                last_norm = Some(norm);
            }
            state.log_loss_sum += loss;
            state.log_loss_count += u.batches;
        }
        Ok(last_norm)
    }
}

/// How dev is evaluated: the batch size and the run's padding.
struct Evaluation<'a> {
    batch_size: usize,
    padding: &'a Padding,
}

/// The padding of the run's batches: a shape plan over the training and dev lengths when the recipe asks for
/// one (the GPU backends), else each batch to its longest example.
fn padding_for<B: SesameBackend>(
    model: &SequenceClassifier<B>,
    config: &TrainConfig,
    train_lengths: &[usize],
    dev: &TokenizedSet,
) -> Padding {
    if config.length_buckets == 0 {
        return Padding::Longest {
            multiple: config.pad_to_multiple,
        };
    }
    let lengths: Vec<usize> = train_lengths
        .iter()
        .copied()
        .chain(dev.encodings.iter().map(|e| e.len()))
        .collect();
    Padding::Plan(ShapePlan::for_model(
        &lengths,
        config.batch_size,
        config.length_buckets,
        config.max_seq_length,
        model.bert.config(),
        model.config().num_labels,
    ))
}

/// Evaluates on dev, logs, and exports the model to `best/` when the selection metric improves.
fn evaluate_and_keep_best<B: SesameAutodiffBackend>(
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
    run.log(&MetricsLine::Eval(EvalLog {
        epoch,
        step: state.updates,
        loss: outputs.loss(inputs.task, inputs.dev),
        examples_per_second: inputs.dev.len() as f64 / clock.elapsed().as_secs_f64().max(1e-9),
        se_gates: mean_gates.clone(),
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
            Ok(())
        })?;
    } else {
        state.patience_counter += 1;
    }
    Ok(metrics)
}

/// Ids of the parameters a pretrained checkpoint does not provide (head, gate, mix, localness), which train
/// at the head learning rate.
fn fresh_param_ids<B: SesameBackend>(model: &SequenceClassifier<B>) -> HashSet<ParamId> {
    param_table(model, model.family())
        .into_iter()
        .filter(|p| p.origin.is_fresh())
        .map(|p| p.id)
        .collect()
}
