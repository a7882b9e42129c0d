//! Running each planned shape once before the first update, so that a GPU backend compiles and autotunes its
//! kernels up front ([`crate::shapes`]) and the training loop compiles nothing.
//!
//! Each planned length runs the training step ([`crate::step::TrainStep`]: forward with dropout, loss over
//! filler-free rows, backward, and a gradient accumulation where the recipe accumulates) and an evaluation
//! forward pass; two optimizer updates (the first creates the moments, the second reads them) run on a copy of
//! the model with an optimizer of their own. Nothing of it reaches the run: the model, its optimizer and its random streams are untouched (the
//! training loop reseeds the streams before every batch).

use std::collections::HashSet;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::kernels;
use sesame_core::ops::host::{sync, to_host};
use sesame_core::{SequenceClassifier, SesameAutodiffBackend, Targets};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::loss_scale::LossScale;
use crate::observer::TrainObserver;
use crate::optim::{BertAdamW, StepRates};
use crate::shapes::{planned_batch, RowWeights, ShapePlan};
use crate::step::{MicroBatch, TrainStep};

/// Runs every shape of `plan` once on `model` (left as it was) and returns the seconds it took.
pub fn warm_up<B: SesameAutodiffBackend>(
    model: &SequenceClassifier<B>,
    plan: &ShapePlan,
    config: &TrainConfig,
    pad_id: u32,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<f64, TrainError> {
    let clock = Instant::now();
    let shapes = plan.shapes();
    observer.on_warmup_start(&shapes);
    let rows = plan.rows;
    let regression = model.config().is_regression();
    let targets = || -> Targets<B> {
        if regression {
            Targets::Values(Tensor::zeros([rows], device))
        } else {
            Targets::Classes(Tensor::<B, 1, Int>::from_data(
                TensorData::new(vec![0i64; rows], [rows]),
                device,
            ))
        }
    };
    let weights = RowWeights::<B>::new(rows, rows, device);
    let mut scratch = model.clone();
    let mut step = TrainStep::new(
        BertAdamW::<B>::new(config.optimizer.clone()),
        HashSet::new(),
        config.gradient_accumulation,
    );
    let mut loss_scale = config.precision.scales_loss().then(LossScale::default);
    let rates = StepRates {
        lr: 0.0,
        fresh_lr: 0.0,
    };
    let micro_batches = config.gradient_accumulation.min(2);
    for (done, &[_, length]) in shapes.iter().enumerate() {
        let batch = planned_batch(&[], pad_id, rows, length);
        // The optimizer's kernels do not depend on the length: two updates with the first shape (the first
        // creates the moments, the second reads them), none with the others.
        let updates = if done == 0 { 2 } else { 1 };
        for _ in 0..updates {
            let mut losses = Vec::new();
            for _ in 0..micro_batches {
                let micro = MicroBatch {
                    input: batch.to_input(device),
                    targets: targets(),
                    rows: Some(weights.0.clone()),
                };
                let loss = TrainStep::loss(&scratch, micro)?;
                losses.push(loss.clone().inner());
                step.backward(&scratch, loss, loss_scale.as_ref());
            }
            if done == 0 {
                let update = step.update(scratch, rates, loss_scale.as_mut())?;
                scratch = update.model;
                losses.extend(update.norm);
            } else {
                step.discard();
            }
            to_host(Tensor::cat(losses, 0))?;
        }
        let eval = model.valid().forward(batch.to_input(device))?;
        to_host(eval.logits)?;
        if let Some(gates) = eval.gates {
            to_host(gates)?;
        }
        observer.on_warmup_step(done + 1);
    }
    sync::<B>(device)?;
    let seconds = clock.elapsed().as_secs_f64();
    observer.on_warmup_end(seconds, kernels::counts());
    Ok(seconds)
}
