//! One training step, the same wherever one runs (`sesame finetune`, its warm-up of the shape plan, `sesame
//! bench`, the examples): the loss of a micro-batch (forward pass with dropout, mean over its real rows), its
//! backward pass into the accumulated gradients, and, once a batch is complete, the optimizer update (global-norm
//! clipping and AdamW, with f16's dynamic loss scaling). burn-train's `TrainStep::step` returns gradients for an
//! optimizer outside it; here the update belongs to the step, because gradient accumulation and loss scaling
//! decide when and whether it happens.

use std::collections::HashSet;

use burn::module::ParamId;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use sesame_core::ops::host::to_host;
use sesame_core::{BertInput, SequenceClassifier, SesameAutodiffBackend, Targets};

use crate::error::TrainError;
use crate::loss_scale::LossScale;
use crate::optim::{BertAdamW, StepRates};

/// One micro-batch: the encoder's input, its targets, and under a shape plan the weight of each row (`[B]`: 1 for
/// an example, 0 for a filler row that only completes the batch's shape).
pub struct MicroBatch<B: AutodiffBackend> {
    pub input: BertInput<B>,
    pub targets: Targets<B>,
    pub rows: Option<Tensor<B, 1>>,
}

/// What an optimizer update did.
pub struct Update<B: SesameAutodiffBackend> {
    pub model: SequenceClassifier<B>,
    /// The global gradient norm before clipping (of the unscaled gradients), on the device; `None` for a
    /// skipped update.
    pub norm: Option<Tensor<B::InnerBackend, 1>>,
    /// `false` when f16 gradients overflowed and the update was skipped.
    pub applied: bool,
}

/// The optimizer, the gradients accumulated since the last update, and what decides an update.
pub struct TrainStep<B: SesameAutodiffBackend> {
    optim: BertAdamW<B>,
    /// Parameters trained at the fresh learning rate (a new head, the SE gate).
    fresh: HashSet<ParamId>,
    /// Micro-batches per update.
    accumulation: usize,
    accumulator: GradientsAccumulator<SequenceClassifier<B>>,
    pending: usize,
}

impl<B: SesameAutodiffBackend> TrainStep<B> {
    /// A step with `optim` (fresh, or restored from a checkpoint), training `fresh` at the fresh learning rate,
    /// updating once every `accumulation` micro-batches.
    pub fn new(optim: BertAdamW<B>, fresh: HashSet<ParamId>, accumulation: usize) -> Self {
        TrainStep {
            optim,
            fresh,
            accumulation: accumulation.max(1),
            accumulator: GradientsAccumulator::new(),
            pending: 0,
        }
    }

    /// The optimizer (its moments are saved with every checkpoint).
    pub fn optimizer(&self) -> &BertAdamW<B> {
        &self.optim
    }

    /// Micro-batches accumulated since the last update.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Drops the gradients accumulated and not applied (the shape plan's warm-up runs backward passes whose
    /// gradients must not reach an update).
    pub fn discard(&mut self) {
        self.accumulator = GradientsAccumulator::new();
        self.pending = 0;
    }

    /// The mean loss of `batch` over its real rows, forward pass with dropout; still differentiable.
    pub fn loss(
        model: &SequenceClassifier<B>,
        batch: MicroBatch<B>,
    ) -> Result<Tensor<B, 1>, TrainError> {
        let out = model.forward(batch.input)?;
        Ok(model.loss_over_rows(&out, batch.targets, batch.rows.as_ref())?)
    }

    /// The backward pass of `loss` into the accumulated gradients: divided by the micro-batches per update, and
    /// multiplied by f16's loss scale. Returns whether a full update's micro-batches are now accumulated.
    pub fn backward(
        &mut self,
        model: &SequenceClassifier<B>,
        loss: Tensor<B, 1>,
        loss_scale: Option<&LossScale>,
    ) -> bool {
        let loss = if self.accumulation > 1 {
            loss / self.accumulation as f64
        } else {
            loss
        };
        let loss = match loss_scale {
            Some(s) => loss * s.scale,
            None => loss,
        };
        let grads = GradientsParams::from_grads(loss.backward(), model);
        self.accumulator.accumulate(model, grads);
        self.pending += 1;
        self.pending >= self.accumulation
    }

    /// The optimizer update from the gradients accumulated since the last one (at an epoch's end they may be
    /// fewer than a full batch's). With a loss scale (f16) the gradients' norm is read on the host and an update
    /// whose gradients overflowed is skipped; without, no host synchronisation.
    pub fn update(
        &mut self,
        model: SequenceClassifier<B>,
        rates: StepRates,
        loss_scale: Option<&mut LossScale>,
    ) -> Result<Update<B>, TrainError> {
        self.pending = 0;
        let grads = self.accumulator.grads();
        let unscale = loss_scale.as_ref().map(|s| 1.0 / s.scale);
        let scaled_norm = BertAdamW::<B>::grad_norm(&model, &grads);
        let norm = match unscale {
            Some(u) => scaled_norm.clone().map(|n| n.mul_scalar(u)),
            None => scaled_norm.clone(),
        };
        if let Some(loss_scale) = loss_scale {
            let finite = match &norm {
                Some(n) => to_host(n.clone())?.iter().all(|v| v.is_finite()),
                None => true,
            };
            loss_scale.record(finite);
            if !finite {
                return Ok(Update {
                    model,
                    norm: None,
                    applied: false,
                });
            }
        }
        let model = self
            .optim
            .apply(model, grads, rates, &self.fresh, scaled_norm, unscale);
        Ok(Update {
            model,
            norm,
            applied: true,
        })
    }
}
