//! The padding mask in the two forms the model needs.

use std::sync::{Arc, OnceLock};

use burn::tensor::{backend::Backend, Int, Tensor};

use crate::error::Result;
use crate::ops::host::to_host;

/// Large negative logit bias for masked keys. Finite (not −∞) so that gradients stay finite and the value fits
/// in f16/bf16; `exp(−1e4)` is 0 in every float type, so the weights equal `transformers`' exactly.
pub const MASK_BIAS: f64 = -1.0e4;

/// Attention mask of a batch: 1 for real tokens, 0 for padding.
#[derive(Debug, Clone)]
pub struct AttentionMask<B: Backend> {
    /// `[B, n]`, 1.0 for real tokens.
    mask: Tensor<B, 2>,
    /// `[B, 1, 1, n]`, 0 for real keys and [`MASK_BIAS`] for padded keys.
    bias: Tensor<B, 4>,
    /// Per example, one past the last real token; read from the device on first use only.
    lengths: Arc<OnceLock<Vec<usize>>>,
}

impl<B: Backend> AttentionMask<B> {
    /// From the tokenizer's `attention_mask` `[B, n]` (1 = token, 0 = padding).
    pub fn new(attention_mask: Tensor<B, 2, Int>) -> Self {
        let mask = attention_mask.float();
        let [b, n] = mask.dims();
        let bias = (mask.clone().neg() + 1.0)
            .mul_scalar(MASK_BIAS)
            .reshape([b, 1, 1, n]);
        AttentionMask {
            mask,
            bias,
            lengths: Arc::new(OnceLock::new()),
        }
    }

    /// `[B, n]`, 1.0 at real tokens.
    pub fn mask(&self) -> Tensor<B, 2> {
        self.mask.clone()
    }

    /// The additive logit bias `[B, 1, 1, n]`.
    pub fn bias(&self) -> Tensor<B, 4> {
        self.bias.clone()
    }

    /// Per example, one past the position of the last real token (the true sequence end). Synchronises with
    /// the device the first time it is called; only padding-aware variants need it.
    /// A failed device read is an error, never zero lengths.
    pub fn lengths(&self) -> Result<Vec<usize>> {
        if let Some(lengths) = self.lengths.get() {
            return Ok(lengths.clone());
        }
        let [_, n] = self.mask.dims();
        let values = to_host(self.mask.clone())?;
        let lengths: Vec<usize> = values
            .chunks(n.max(1))
            .map(|row| row.iter().rposition(|&m| m > 0.5).map_or(0, |i| i + 1))
            .collect();
        Ok(self.lengths.get_or_init(|| lengths).clone())
    }
}
