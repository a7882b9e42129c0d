//! Dynamic loss scaling for f16 mixed precision, as PyTorch's `GradScaler` does it with its defaults.
//!
//! f16 has 5 exponent bits: small gradients of the products' operands underflow to 0. The loss is multiplied by
//! a scale `S` before the backward pass, so the gradients are `S` times larger; before the update they are
//! divided by `S` again (inside the optimizer, [`crate::optim::BertAdamW::apply`]; the step that decides it is
//! [`crate::step::TrainStep::update`]). When the gradients overflowed (a
//! non-finite global norm), the update is skipped and `S` halves; after 2 000 updates in a row without overflow,
//! `S` doubles. `S` starts at 2¹⁶. Telling an overflow needs the norm on the host, so an f16 update waits for
//! the device once, as PyTorch's `GradScaler.step` does.
//!
//! A skipped update still counts as an update (`transformers`' Trainer counts it in `global_step`), but the
//! learning-rate schedule does not advance over it, as the Trainer does not step its scheduler then.

use serde::{Deserialize, Serialize};

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
