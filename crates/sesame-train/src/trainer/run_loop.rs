//! The loop of a run in progress, in the parts burn-train also separates: an epoch of micro-batches, the
//! optimizer update, the log line, what falls due after an update (evaluation, checkpoint), the end of an epoch,
//! and the run's closing files.
//!
//! Long: the methods of one struct (`Trainer`), each under 60 lines; split across files they would pass the
//! run's state from one to the next.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::Tensor;
use sesame_core::rng::SplitMix64;
use sesame_core::{EncodedBatch, SequenceClassifier, SesameAutodiffBackend};

use super::{batch_seed, fresh_param_ids, lap, RunControl, TrainOutcome};
use crate::batching::{epoch_batches, prefetch_batches, Padding};
use crate::checkpoint::save_checkpoint;
use crate::config::TrainConfig;
use crate::device_memory::catch_device_oom;
use crate::early_stopping::EarlyStopping;
use crate::error::TrainError;
use crate::evaluation::{evaluate_and_keep_best, Evaluation};
use crate::finite_checks::FiniteChecks;
use crate::inputs::TrainInputs;
use crate::metrics::selection_metric;
use crate::observer::TrainObserver;
use crate::optim::{BertAdamW, StepRates};
use crate::run::{
    checkpoint_name, write_trainer_files, FinalMetrics, MetricsLine, RunDir, StartupCost, StepLog,
    TrainerSummary, BEST, FINAL_METRICS,
};
use crate::schedule::{linear_warmup_decay, warmup_steps};
use crate::shapes::RowWeights;
use crate::state::TrainerState;
use crate::step::{MicroBatch, TrainStep};
use crate::warmup::warm_up;

/// Whether the run goes on after an evaluation or an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// A run in progress: what stays fixed (inputs, recipe, run directory, padding), what the loop carries from
/// update to update (the step, the state, the pending non-finite checks, the clocks), and where progress goes.
pub(super) struct Trainer<'a, B: SesameAutodiffBackend> {
    inputs: &'a TrainInputs<'a>,
    config: &'a TrainConfig,
    run: &'a RunDir,
    control: &'a RunControl,
    device: &'a B::Device,
    observer: &'a mut dyn TrainObserver,
    padding: &'a Padding,
    /// The length of each training example used.
    lengths: Vec<usize>,
    /// Updates of the whole run, and of the learning rate's warm-up.
    total: usize,
    warmup: usize,
    step: TrainStep<B>,
    pub(super) state: TrainerState,
    checks: FiniteChecks<B::InnerBackend>,
    early_stopping: EarlyStopping,
    startup: StartupCost,
    /// When [`train`] was called (for the seconds to the first update).
    called: Instant,
    /// Wall-clock time not yet added to the state's training seconds.
    wall: Instant,
}

/// The updates since the last log line: their summed loss (on the device), examples and time.
struct LogWindow<B: SesameAutodiffBackend> {
    /// The loss of the update being accumulated, summed over its micro-batches.
    update_loss: Option<Tensor<B::InnerBackend, 1>>,
    seen: usize,
    clock: Instant,
}

impl<'a, B: SesameAutodiffBackend> Trainer<'a, B> {
    /// Warms the shape plan up (GPU backends) and sets the loop up.
    #[allow(clippy::too_many_arguments)] // the run's parts, each named where train() receives it
    pub(super) fn new(
        model: &SequenceClassifier<B>,
        inputs: &'a TrainInputs<'a>,
        config: &'a TrainConfig,
        run: &'a RunDir,
        control: &'a RunControl,
        device: &'a B::Device,
        observer: &'a mut dyn TrainObserver,
        padding: &'a Padding,
        lengths: Vec<usize>,
        optim: BertAdamW<B>,
        state: TrainerState,
        called: Instant,
    ) -> Result<Self, TrainError> {
        let total = config.updates_per_epoch(lengths.len()) * config.epochs;
        let mut startup = StartupCost {
            planned_shapes: match padding {
                Padding::Plan(plan) => plan.shapes(),
                Padding::Longest { .. } => Vec::new(),
            },
            kernel_cache: sesame_core::kernels::cache_dir(),
            ..StartupCost::default()
        };
        if let Padding::Plan(plan) = padding {
            startup.warmup_seconds = warm_up(model, plan, config, inputs.pad_id, device, observer)?;
        }
        let step = TrainStep::new(optim, fresh_param_ids(model), config.gradient_accumulation);
        observer.on_start(total, state.updates);
        Ok(Trainer {
            inputs,
            config,
            run,
            control,
            device,
            observer,
            padding,
            lengths,
            total,
            warmup: warmup_steps(config.warmup_ratio, total),
            step,
            state,
            checks: FiniteChecks::default(),
            early_stopping: EarlyStopping {
                patience: config.early_stopping_patience,
            },
            startup,
            called,
            wall: Instant::now(),
        })
    }

    /// The batches of `epoch` from `state.batches_done` on (assembled on a helper thread, one or two ahead);
    /// the model after its last update, or after the update at which early stopping ended the run.
    pub(super) fn epoch(
        &mut self,
        model: SequenceClassifier<B>,
        epoch: usize,
    ) -> Result<SequenceClassifier<B>, TrainError> {
        let config = self.config;
        let mut rng = SplitMix64::derive(config.seed, epoch as u64);
        let batches = epoch_batches(
            &self.lengths,
            config.batch_size,
            Some(&mut rng),
            config.bucket_by_length,
        );
        let (train_set, pad_id, padding) = (self.inputs.train, self.inputs.pad_id, self.padding);
        let mut window = LogWindow::<B> {
            update_loss: None,
            seen: 0,
            clock: Instant::now(),
        };
        let done = self.state.batches_done;
        std::thread::scope(|scope| -> Result<SequenceClassifier<B>, TrainError> {
            let mut model = model;
            let prepared = prefetch_batches(scope, train_set, &batches[done..], pad_id, padding);
            // The helper thread sends the batches of `batches[done..]` in order (should it panic, the scope
            // re-raises the panic when this loop ends).
            let steps = batches.iter().enumerate().skip(done).zip(prepared);
            for ((i, indices), batch) in steps {
                // A device allocation that fails in the step (or the update after it) is an error naming this
                // batch's shape.
                let shape = (batch.batch_size, batch.seq_len);
                let full = catch_device_oom(B::ON_HOST, shape.0, shape.1, || {
                    let loss = self.micro_batch(&model, epoch, i, indices, &batch)?;
                    let detached = loss.clone().inner();
                    window.update_loss = Some(match window.update_loss.take() {
                        Some(s) => s.add(detached),
                        None => detached,
                    });
                    window.seen += indices.len();
                    Ok(self
                        .step
                        .backward(&model, loss, self.state.loss_scale.as_ref()))
                })?;
                let last = i + 1 == batches.len();
                if !full && !last {
                    continue;
                }
                let lr;
                (model, lr) = catch_device_oom(B::ON_HOST, shape.0, shape.1, || {
                    self.update(model, epoch, i, &mut window)
                })?;
                if self.state.updates.is_multiple_of(config.logging_steps) || last {
                    self.log(epoch, lr, &mut window)?;
                }
                if last || self.after_update(&model, epoch)? == Flow::Stop {
                    break;
                }
            }
            Ok(model)
        })
    }

    /// The loss of micro-batch `i` of `epoch`, its random streams seeded from (seed, epoch, i) only, so that a
    /// run resumed at any update replays its dropout exactly.
    fn micro_batch(
        &mut self,
        model: &SequenceClassifier<B>,
        epoch: usize,
        i: usize,
        indices: &[usize],
        batch: &EncodedBatch,
    ) -> Result<Tensor<B, 1>, TrainError> {
        let device = self.device;
        let seed = batch_seed(self.config.seed, epoch, i);
        B::seed(device, seed);
        model.dropout_stream().seed(seed);
        self.state.tokens_seen += (indices.len() * batch.seq_len) as u64;
        let targets = self
            .inputs
            .train
            .targets::<B>(indices, batch.batch_size, device)?;
        // Under a shape plan the batch ends with filler rows, which the loss leaves out.
        let rows = self
            .padding
            .rows()
            .map(|_| RowWeights::<B>::new(indices.len(), batch.batch_size, device).0);
        let micro = MicroBatch {
            input: batch.to_input(device),
            targets,
            rows,
        };
        TrainStep::loss(model, micro)
    }

    /// The optimizer update after micro-batch `i` of `epoch`, at the schedule's learning rate; the model and
    /// that rate.
    fn update(
        &mut self,
        model: SequenceClassifier<B>,
        epoch: usize,
        i: usize,
        window: &mut LogWindow<B>,
    ) -> Result<(SequenceClassifier<B>, f64), TrainError> {
        let (config, state) = (self.config, &mut self.state);
        let factor = linear_warmup_decay(
            state.updates - state.skipped_updates,
            self.warmup,
            self.total,
        );
        let fresh_lr = config.head_learning_rate.unwrap_or(config.learning_rate);
        let rates = StepRates {
            lr: config.learning_rate * factor,
            fresh_lr: fresh_lr * factor,
        };
        let pending = self.step.pending();
        let done = self.step.update(model, rates, state.loss_scale.as_mut())?;
        state.updates += 1;
        if !done.applied {
            // f16 gradients overflowed: the update was skipped, its loss is not logged.
            state.skipped_updates += 1;
            window.update_loss = None;
        }
        if self.startup.seconds_to_first_update.is_none() {
            sesame_core::ops::host::sync::<B>(self.device)?;
            self.startup.seconds_to_first_update = Some(self.called.elapsed().as_secs_f64());
            self.startup.kernels_at_first_update = sesame_core::kernels::counts();
        }
        state.batches_done = i + 1;
        if let Some(loss) = window.update_loss.take() {
            self.checks
                .push(epoch, state.updates, loss, pending, done.norm);
        }
        Ok((done.model, rates.lr))
    }

    /// A train line of `metrics.jsonl` (and the observer's step) over the updates since the last one.
    fn log(&mut self, epoch: usize, lr: f64, window: &mut LogWindow<B>) -> Result<(), TrainError> {
        let grad_norm = self.checks.flush(&mut self.state)?;
        let state = &mut self.state;
        let elapsed = window.clock.elapsed().as_secs_f64().max(1e-9);
        let log = StepLog {
            step: state.updates,
            total_steps: self.total,
            epoch,
            loss: state.log_loss_sum / state.log_loss_count.max(1) as f64,
            learning_rate: lr,
            grad_norm: grad_norm.unwrap_or(0.0),
            examples_per_second: window.seen as f64 / elapsed,
        };
        self.run.log(&MetricsLine::Train(log.clone()))?;
        self.observer.on_step(&log);
        state.log_loss_sum = 0.0;
        state.log_loss_count = 0;
        window.seen = 0;
        window.clock = Instant::now();
        Ok(())
    }

    /// The evaluation and the checkpoint that fall on this update (`--eval-steps`, `--save-steps`); stops when
    /// early stopping's patience is spent.
    fn after_update(
        &mut self,
        model: &SequenceClassifier<B>,
        epoch: usize,
    ) -> Result<Flow, TrainError> {
        let updates = self.state.updates;
        if self
            .config
            .eval_steps
            .is_some_and(|k| updates.is_multiple_of(k))
        {
            self.checks.flush(&mut self.state)?;
            let metrics = self.evaluate(model, epoch)?;
            self.observer.on_eval(epoch, updates, &metrics);
            if self.early_stopping.spent(&self.state) {
                self.state.stopped_early = true;
                return Ok(Flow::Stop);
            }
        }
        if self
            .control
            .save
            .save_steps
            .is_some_and(|k| updates.is_multiple_of(k))
        {
            self.checks.flush(&mut self.state)?;
            self.save(model)?;
        }
        Ok(Flow::Continue)
    }

    /// The end of `epoch`: its evaluation (unless early stopping ended it), a checkpoint, and whether the run
    /// goes on (not after early stopping, nor when the observer asks to stop).
    pub(super) fn end_epoch(
        &mut self,
        model: &SequenceClassifier<B>,
        epoch: usize,
    ) -> Result<Flow, TrainError> {
        self.checks.flush(&mut self.state)?;
        if !self.state.stopped_early {
            let metrics = self.evaluate(model, epoch)?;
            self.state.history.push(metrics.clone());
            self.observer.on_eval(epoch, self.state.updates, &metrics);
            self.state.epochs_done = epoch + 1;
            self.state.batches_done = 0;
            self.state.stopped_early = self.early_stopping.spent(&self.state)
                && self.state.epochs_done < self.config.epochs;
        }
        self.save(model)?;
        if self.state.stopped_early {
            self.observer.on_message(&format!(
                "early stopping: no better {} in {} evaluation(s) in a row",
                selection_metric(self.inputs.task),
                self.state.patience_counter
            ));
            return Ok(Flow::Stop);
        }
        if self.state.epochs_done < self.config.epochs && self.observer.should_stop() {
            self.observer.on_message(&format!(
                "stopped after epoch {}; resume to continue",
                self.state.epochs_done
            ));
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    fn evaluate(
        &mut self,
        model: &SequenceClassifier<B>,
        epoch: usize,
    ) -> Result<BTreeMap<String, f64>, TrainError> {
        let eval = Evaluation {
            batch_size: self.padding.rows().unwrap_or(self.config.eval_batch_size),
            padding: self.padding,
        };
        evaluate_and_keep_best(
            model,
            self.inputs,
            &eval,
            self.run,
            &mut self.state,
            epoch,
            self.device,
        )
    }

    /// Checkpoint `checkpoint-<updates>` (the training seconds brought up to date first); warns about old ones
    /// that could not be removed.
    fn save(&mut self, model: &SequenceClassifier<B>) -> Result<(), TrainError> {
        self.state.train_seconds += lap(&mut self.wall);
        self.state.metrics_len = self.run.metrics_len();
        let saved = save_checkpoint(
            self.run,
            &checkpoint_name(self.state.updates),
            model,
            self.step.optimizer(),
            &self.state,
            self.control.save.save_total_limit,
        )?;
        for warning in saved.warnings {
            self.observer.on_message(&format!("warning: {warning}"));
        }
        Ok(())
    }

    /// `final_metrics.json` and the Trainer's files; the outcome.
    pub(super) fn finish(
        mut self,
        model: SequenceClassifier<B>,
    ) -> Result<TrainOutcome<B>, TrainError> {
        let (config, state) = (self.config, &self.state);
        let n_train = self.lengths.len();
        self.run.write_json(
            FINAL_METRICS,
            &FinalMetrics {
                task: self.inputs.task,
                best_epoch: state.best_epoch,
                best: state.best_metrics.clone(),
                history: state.history.clone(),
                updates: state.updates,
            },
        )?;
        write_trainer_files(
            self.run,
            &TrainerSummary {
                selection_metric: selection_metric(self.inputs.task),
                train_examples: n_train,
                dev_examples: self.inputs.dev.len(),
                epochs: config.epochs,
                updates_per_epoch: config.updates_per_epoch(n_train),
                max_steps: self.total,
                global_step: state.updates,
                train_batch_size: config.batch_size,
                eval_batch_size: config.eval_batch_size,
                logging_steps: config.logging_steps,
                eval_steps: config.eval_steps,
                save_steps: self.control.save.save_steps,
                early_stopping_patience: config.early_stopping_patience,
                patience_counter: state.patience_counter,
                train_seconds: state.train_seconds,
                total_flos: 6.0 * model.non_embedding_params() as f64 * state.tokens_seen as f64,
            },
        )?;
        self.startup.kernels_in_all = sesame_core::kernels::counts();
        Ok(TrainOutcome {
            model,
            state: self.state,
            best_dir: self.run.file(BEST),
            startup: self.startup,
        })
    }
}
