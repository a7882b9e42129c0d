//! The fine-tuning loop: BERT's recipe (methods.md §1.6) on any `SequenceClassifier` variant, with evaluation,
//! best-model export, crash-safe checkpoints every N updates and exact resumption at any of them. Its parts
//! are components of their own: the step ([`crate::step`]), evaluation and the best model
//! ([`crate::evaluation`]), early stopping ([`crate::early_stopping`]), the non-finite check
//! ([`crate::finite_checks`]), checkpoints ([`crate::checkpoint`]) and the shape plan's warm-up
//! ([`crate::warmup`]).

use sesame_core::fused::use_precision;
use sesame_core::{SesameAutodiffBackend, SesameBackend};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::ParamId;
use burn::tensor::backend::AutodiffBackend;
use sesame_core::io::weights::param_table;
use sesame_core::rng::SplitMix64;
use sesame_core::SequenceClassifier;

use crate::batching::{Padding, TokenizedSet};
use crate::checkpoint::{restore_checkpoint, SavePolicy};
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::inputs::TrainInputs;
use crate::loss_scale::LossScale;
use crate::observer::TrainObserver;
use crate::optim::BertAdamW;
use crate::run::{RunDir, StartupCost, BEST};
use crate::shapes::ShapePlan;
use crate::state::TrainerState;

mod run_loop;
use run_loop::{Flow, Trainer};

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
    model: SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    control: &RunControl,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>, TrainError> {
    let called = Instant::now();
    validate(config, &control.save)?;
    train_validated(
        model, inputs, config, run, control, device, observer, called,
    )
}

/// Checks the recipe and the checkpoint policy: what [`train`] checks first, and what
/// [`crate::job::finetune`] checks before it touches the run directory (it then calls [`train_validated`]).
pub(crate) fn validate(config: &TrainConfig, save: &SavePolicy) -> Result<(), TrainError> {
    config.validate()?;
    save.validate()
}

/// [`train`] on settings that passed [`validate`]; `called`: when the caller started (for the startup cost).
#[allow(clippy::too_many_arguments)] // train()'s arguments and the caller's clock
pub(crate) fn train_validated<B: SesameAutodiffBackend>(
    mut model: SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    control: &RunControl,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
    called: Instant,
) -> Result<TrainOutcome<B>, TrainError> {
    use_precision::<B>(config.precision, device)?;
    if inputs.train.is_empty() {
        return Err(TrainError::EmptyTrainingSet {
            source_name: format!("the {} training set", inputs.task.name()),
        });
    }
    let n_train = config
        .max_train_samples
        .map_or(inputs.train.len(), |m| m.min(inputs.train.len()));
    let lengths: Vec<usize> = inputs.train.encodings[..n_train]
        .iter()
        .map(|e| e.len())
        .collect();
    let padding = padding_for(&model, config, &lengths, inputs.dev);
    let (optim, state) = start(&mut model, config, run, control, device, observer)?;
    let mut trainer = Trainer::new(
        &model, inputs, config, run, control, device, observer, &padding, lengths, optim, state,
        called,
    )?;
    for epoch in trainer.state.epochs_done..config.epochs {
        if trainer.state.stopped_early {
            break;
        }
        model = trainer.epoch(model, epoch)?;
        if trainer.end_epoch(&model, epoch)? == Flow::Stop {
            break;
        }
    }
    trainer.finish(model)
}

/// The optimizer and the run's state at the start: fresh, or restored from the run's latest checkpoint (with
/// `metrics.jsonl` cut back to where that checkpoint was written).
fn start<B: SesameAutodiffBackend>(
    model: &mut SequenceClassifier<B>,
    config: &TrainConfig,
    run: &RunDir,
    control: &RunControl,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<(BertAdamW<B>, TrainerState), TrainError> {
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
        restore_checkpoint(&dir, model, &mut optim, &mut state, device)?;
        run.truncate_metrics(state.metrics_len)?;
        observer.on_message(&format!(
            "resumed from {} (epoch {}, update {})",
            dir.display(),
            state.epochs_done,
            state.updates
        ));
    }
    run.recover_dir(BEST)?;
    Ok((optim, state))
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
            multiple: config.pad_to_multiple_of,
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
        &model.encoder_config(),
        model.config().num_labels,
    ))
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
