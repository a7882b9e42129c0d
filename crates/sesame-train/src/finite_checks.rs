//! The non-finite check of the training loop: losses and gradient norms stay on the device until the loop reads
//! the host anyway, then all are checked in one transfer.

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use sesame_core::ops::host::to_host;

use crate::error::TrainError;
use crate::state::TrainerState;

/// The loss and gradient norm of each update, kept on the device until the next host read (a log line, an
/// evaluation or a checkpoint), then checked for NaN and infinity in one transfer. A non-finite value stops the
/// run naming its epoch and step, before anything computed from it is evaluated or saved.
pub struct FiniteChecks<B: Backend> {
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
    pub fn push(
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
    pub fn flush(&mut self, state: &mut TrainerState) -> Result<Option<f64>, TrainError> {
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
