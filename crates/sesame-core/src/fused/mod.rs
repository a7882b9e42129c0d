//! Fused operations with hand-written backward passes, behind a backend trait.
//!
//! [`SesameBackend`] extends burn's `Backend` with the few operations of a BERT layer that burn composes from
//! many small element-wise passes: the attention normaliser `softmax(scores / √d + bias)` and BERT's exact GELU.
//! Each method has a *default* body that composes ordinary burn ops ([`composed`]), so every backend — wgpu,
//! CUDA, ndarray, any future one — is a `SesameBackend` with one empty `impl` line and keeps computing what it
//! computed before. A backend with its own kernels overrides the methods: flex does (one pass over memory
//! forward, one backward, a vectorised `exp`/`erf`; `flex.rs`).
//!
//! Under [`Autodiff`](burn::backend::Autodiff) each fused operation is *one* node of the graph with its own
//! backward pass (`autodiff.rs`), which calls the inner backend's backward method — a kernel on flex, the
//! composed formula elsewhere. burn-autodiff 0.21 records `activation::softmax` as four nodes (sub, exp, sum,
//! div) and this model's exact GELU as five, each keeping its own saved tensors and each a pass over memory in
//! both directions.
//!
//! The model calls the tensor-level functions of this module ([`attention_softmax`], [`gelu`]); the seams of
//! the attention variants stay where they were: a variant with another normaliser (sparsegen-lin) does not
//! call [`attention_softmax`], and every variant still receives the attention probabilities.

mod autodiff;
pub mod composed;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod math;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

/// A burn backend with sesame's fused operations. Implemented for every backend sesame builds with; the default
/// methods compose ordinary burn ops.
pub trait SesameBackend: Backend {
    /// `softmax(scores / divisor + bias)` along the last axis.
    ///
    /// `scores`: `[B, H, n, m]`; `bias`: broadcastable to it, each of its first three axes either full or 1
    /// (the padding mask is `[B, 1, 1, m]`, a learned bias `[B, H, n, m]`).
    fn attention_softmax(
        scores: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        divisor: f64,
    ) -> FloatTensor<Self> {
        composed::attention_softmax::<Self>(scores, bias, divisor)
    }

    /// The gradient of the scores from the softmax output `P` and its gradient `G`:
    /// `P ⊙ (G − Σ_j G ⊙ P) / divisor`, the sum along the last axis (pass 1 for the logits themselves).
    fn attention_softmax_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        divisor: f64,
    ) -> FloatTensor<Self> {
        composed::attention_softmax_backward::<Self>(probs, grad, divisor)
    }

    /// BERT's exact GELU, `x Φ(x) = ½ x (1 + erf(x / √2))`, element-wise.
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::exact_gelu::<Self>(x)
    }

    /// `G ⊙ GELU'(x)` with the exact derivative `Φ(x) + x φ(x)`.
    ///
    /// burn's own `gelu_backward` is the derivative of the *tanh approximation* on ndarray and the GPU
    /// backends, which differs from PyTorch's by ~0.4 %.
    fn exact_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::exact_gelu_backward::<Self>(x, grad)
    }
}

/// An autodiff backend whose inner backend is a [`SesameBackend`] too (training evaluates on the inner one).
pub trait SesameAutodiffBackend:
    AutodiffBackend<InnerBackend: SesameBackend> + SesameBackend
{
}

impl<B> SesameAutodiffBackend for B where
    B: AutodiffBackend<InnerBackend: SesameBackend> + SesameBackend
{
}

/// `softmax(scores / divisor + bias)` over the last axis of `scores` `[B, H, n, m]`, `bias` broadcastable
/// (see [`SesameBackend::attention_softmax`]).
pub fn attention_softmax<B: SesameBackend>(
    scores: Tensor<B, 4>,
    bias: Tensor<B, 4>,
    divisor: f64,
) -> Tensor<B, 4> {
    let out = B::attention_softmax(
        scores.into_primitive().tensor(),
        bias.into_primitive().tensor(),
        divisor,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// BERT's exact GELU `x Φ(x)`, with the exact derivative in the backward pass.
pub fn gelu<B: SesameBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::exact_gelu(
        x.into_primitive().tensor(),
    )))
}

/// `impl SesameBackend for T {}`: the composed defaults, for backends without kernels of their own.
macro_rules! composed_backend {
    ($($backend:ty),* $(,)?) => {
        $(impl SesameBackend for $backend {})*
    };
}

#[cfg(feature = "ndarray")]
composed_backend!(burn::backend::NdArray<f32>, burn::backend::NdArray<f64>);
#[cfg(feature = "wgpu")]
composed_backend!(
    burn::backend::Wgpu<f32, i32>,
    burn::backend::Wgpu<half::f16, i32>,
    burn::backend::Wgpu<half::bf16, i32>,
);
#[cfg(feature = "cuda")]
composed_backend!(
    burn::backend::Cuda<f32, i32>,
    burn::backend::Cuda<half::f16, i32>,
    burn::backend::Cuda<half::bf16, i32>,
);
