//! Dynamic loss scaling for f16 mixed precision, as PyTorch's `GradScaler` does it with its defaults.
//!
//! f16 has 5 exponent bits: small gradients of the products' operands underflow to 0. The loss is multiplied by
//! a scale `S` before the backward pass, so the gradients are `S` times larger; before the update they are
//! divided by `S` again (inside the optimizer, [`BertAdamW::apply`]). When the gradients overflowed (a
//! non-finite global norm), the update is skipped and `S` halves; after 2 000 updates in a row without overflow,
//! `S` doubles. `S` starts at 2¹⁶. Telling an overflow needs the norm on the host, so an f16 update waits for
//! the device once, as PyTorch's `GradScaler.step` does.
//!
//! A skipped update still counts as an update (`transformers`' Trainer counts it in `global_step`), but the
//! learning-rate schedule does not advance over it, as the Trainer does not step its scheduler then.

use std::collections::HashSet;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use sesame_core::io::host::to_host;

use crate::error::TrainError;
use crate::optim::{BertAdamW, StepRates};

/// The loss scale and its growth counter (saved with every checkpoint, so a resumed run scales alike).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    /// `S`, the factor of the loss.
    pub scale: f64,
    /// Updates in a row without overflow at this scale.
    pub good_updates: usize,
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale {
            scale: LossScale::INITIAL,
            good_updates: 0,
        }
    }
}

impl LossScale {
    /// PyTorch's `GradScaler` defaults: `init_scale`, `growth_factor`, `backoff_factor`, `growth_interval`.
    pub const INITIAL: f64 = 65536.0;
    pub const GROWTH: f64 = 2.0;
    pub const BACKOFF: f64 = 0.5;
    pub const INTERVAL: usize = 2000;

    /// Records whether the last update's gradients were finite, and adapts the scale.
    pub fn record(&mut self, finite: bool) {
        if finite {
            self.good_updates += 1;
            if self.good_updates == Self::INTERVAL {
                self.scale *= Self::GROWTH;
                self.good_updates = 0;
            }
        } else {
            self.scale *= Self::BACKOFF;
            self.good_updates = 0;
        }
    }
}

/// What an optimizer update did.
pub struct Update<M, T> {
    pub model: M,
    /// The global gradient norm before clipping (of the unscaled gradients); `None` for a skipped update.
    pub norm: Option<T>,
    /// `false` when the gradients overflowed and the update was skipped.
    pub applied: bool,
}

/// One update of `model`: with a loss scale (f16), the gradients are checked on the host and the update is
/// skipped when they overflowed; without, [`BertAdamW::step`] as it is (no host synchronisation).
pub fn update<B: AutodiffBackend, M: AutodiffModule<B>>(
    optim: &mut BertAdamW<B>,
    model: M,
    grads: GradientsParams,
    rates: StepRates,
    fresh: &HashSet<ParamId>,
    loss_scale: Option<&mut LossScale>,
) -> Result<Update<M, Tensor<B::InnerBackend, 1>>, TrainError> {
    let Some(loss_scale) = loss_scale else {
        let (model, norm) = optim.step(model, grads, rates, fresh);
        return Ok(Update {
            model,
            norm,
            applied: true,
        });
    };
    let unscale = 1.0 / loss_scale.scale;
    let scaled_norm = BertAdamW::<B>::grad_norm(&model, &grads);
    let norm = scaled_norm.clone().map(|n| n.mul_scalar(unscale));
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
    let model = optim.apply(model, grads, rates, fresh, scaled_norm, Some(unscale));
    Ok(Update {
        model,
        norm,
        applied: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_halves_on_overflow_and_doubles_after_the_interval() {
        let mut s = LossScale::default();
        s.record(false);
        assert_eq!(s.scale, 32768.0);
        for _ in 0..LossScale::INTERVAL - 1 {
            s.record(true);
        }
        assert_eq!(
            (s.scale, s.good_updates),
            (32768.0, LossScale::INTERVAL - 1)
        );
        s.record(true);
        assert_eq!((s.scale, s.good_updates), (65536.0, 0));
    }
}
