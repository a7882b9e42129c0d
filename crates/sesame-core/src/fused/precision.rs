//! The precision of the matrix products on the GPU backends, chosen by the user (`--precision`).
//!
//! - [`Precision::F32`]: every product in full f32, the default of `transformers`' Trainer (PyTorch leaves TF32
//!   off for matrix products unless asked). burn's CUDA kernels would otherwise round f32 operands to TF32 on
//!   tensor cores (Ampere and later) with no switch to turn it off; in this mode the model's products run on
//!   kernels that do not use tensor cores ([`Products::Kernel`], `fused::strict`).
//! - [`Precision::Tf32`]: burn's own choice of kernels, TF32 tensor cores where the GPU has them (10-bit
//!   mantissa operands, f32 accumulation): PyTorch with `allow_tf32 = True`.
//! - [`Precision::Bf16`], [`Precision::F16`]: **mixed** precision, as PyTorch's autocast: parameters, AdamW's
//!   moments, LayerNorm, softmax, GELU, dropout, the losses and the SE gate stay f32; the operands of the
//!   encoder's products (the dense layers and the two attention products, forward and backward) are cast to
//!   the half type, multiplied with f32 accumulation, and the result is cast back to f32. With f16 the learner
//!   also scales the loss dynamically (PyTorch's `GradScaler`), since f16 gradients underflow.
//!
//! The setting is process-wide (like burn's device random stream), read by the GPU backends each time a product
//! is formed ([`SesameBackend::products`](super::SesameBackend::products)); the CPU backends compute in f32 only
//! and refuse the others ([`SesameBackend::supports_precision`](super::SesameBackend::supports_precision)).

use std::sync::atomic::{AtomicU8, Ordering};

use burn::tensor::ops::FloatTensor;
use burn::tensor::{backend::Backend, FloatDType, Tensor, TensorPrimitive};
use serde::{Deserialize, Serialize};

use super::SesameBackend;
use crate::error::{CoreError, Result};

/// The precision of matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Tf32,
    Bf16,
    F16,
}

impl Precision {
    pub const ALL: [Precision; 4] = [
        Precision::F32,
        Precision::Tf32,
        Precision::Bf16,
        Precision::F16,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Tf32 => "tf32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// Parses `f32`, `tf32`, `bf16` or `f16`.
    pub fn parse(s: &str) -> Option<Precision> {
        Precision::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The half type the products are cast to in mixed precision.
    pub fn product_dtype(self) -> Option<FloatDType> {
        match self {
            Precision::Bf16 => Some(FloatDType::BF16),
            Precision::F16 => Some(FloatDType::F16),
            Precision::F32 | Precision::Tf32 => None,
        }
    }

    /// Whether the learner scales the loss (f16's narrow exponent range).
    pub fn scales_loss(self) -> bool {
        self == Precision::F16
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

/// Sets the process's precision of products. Checking that the backend can compute it is the caller's
/// business ([`SesameBackend::supports_precision`](super::SesameBackend::supports_precision)).
pub fn set_precision(precision: Precision) {
    let index = Precision::ALL
        .iter()
        .position(|&p| p == precision)
        .unwrap_or(0);
    CURRENT.store(index as u8, Ordering::Relaxed);
}

/// The process's precision of products.
pub fn precision() -> Precision {
    Precision::ALL[usize::from(CURRENT.load(Ordering::Relaxed)) % Precision::ALL.len()]
}

/// The precisions backend `B` computes in on `device` (f32 only on the CPU backends).
pub fn precisions<B: SesameBackend>(device: &B::Device) -> Vec<Precision> {
    Precision::ALL
        .into_iter()
        .filter(|&p| B::supports_precision(p, device))
        .collect()
}

/// Makes `precision` the process's, after checking that backend `B` computes it on `device` (an error naming
/// the precisions it does compute in).
pub fn use_precision<B: SesameBackend>(precision: Precision, device: &B::Device) -> Result<()> {
    let can = precisions::<B>(device);
    if !can.contains(&precision) {
        return Err(CoreError::Precision {
            asked: precision.name(),
            can: can.into_iter().map(Precision::name).collect(),
        });
    }
    set_precision(precision);
    Ok(())
}

/// How a backend with composed operations computes the model's matrix products under the process's precision.
pub enum Products<B: Backend> {
    /// burn's own matmul (on the GPU backends, autotuned kernels; TF32 tensor cores on CUDA).
    Burn,
    /// Operands cast to a half type, the product cast back to f32 (mixed precision).
    Half(FloatDType),
    /// A product of the backend's own: full-f32 kernels without tensor cores.
    Kernel(fn(FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>),
}

impl<B: Backend> Clone for Products<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for Products<B> {}

impl<B: Backend> Products<B> {
    /// `lhs × rhs` (batched over the leading axes, as burn's `matmul`).
    pub fn matmul<const D: usize>(self, lhs: Tensor<B, D>, rhs: Tensor<B, D>) -> Tensor<B, D> {
        let raw = |t: Tensor<B, D>| t.into_primitive().tensor();
        let wrap = |t: FloatTensor<B>| Tensor::from_primitive(TensorPrimitive::Float(t));
        match self {
            Products::Burn => lhs.matmul(rhs),
            Products::Half(half) => {
                let product =
                    B::float_matmul(B::float_cast(raw(lhs), half), B::float_cast(raw(rhs), half));
                wrap(B::float_cast(product, FloatDType::F32))
            }
            Products::Kernel(product) => wrap(product(raw(lhs), raw(rhs))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_f16_scales_the_loss() {
        for p in Precision::ALL {
            assert_eq!(Precision::parse(p.name()), Some(p));
            assert_eq!(serde_json::to_string(&p).ok(), Some(format!("\"{p}\"")));
            assert_eq!(p.scales_loss(), p == Precision::F16);
        }
        assert_eq!(Precision::parse("fp32"), None);
    }
}
