//! Fused operations with hand-written backward passes, behind a backend trait.
//!
//! [`SesameBackend`] extends burn's `Backend` with the few operations of a BERT layer that burn composes from
//! many small element-wise passes or copies: the attention normaliser `softmax(scores / √d + bias)`, BERT's exact
//! GELU, the residual add + LayerNorm that ends each sub-layer, the dense layers (with their bias where they
//! have one), the two per-head attention products, which read and write the heads where they lie instead of
//! splitting and merging them by copies, ModernBERT's GeGLU gate and rotary embedding, and DeBERTa's gather of
//! relative-position scores.
//! Each method has a *default* body that composes ordinary burn ops ([`composed`]), so every backend — wgpu,
//! CUDA, ndarray, any future one — is a `SesameBackend` with one empty `impl` line and keeps computing what it
//! computed before. A backend with its own kernels overrides the methods: flex does (one pass over memory
//! forward, one backward, a vectorised `exp`/`erf`; `flex.rs`).
//!
//! Under [`Autodiff`](burn::backend::Autodiff) each fused operation is *one* node of the graph with its own
//! backward pass (`autodiff/`), which calls the inner backend's backward method — a kernel on flex, the
//! composed formula elsewhere. burn-autodiff 0.21 records `activation::softmax` as four nodes (sub, exp, sum,
//! div), this model's exact GELU as five and the residual add + LayerNorm as about ten (burn's `layer_norm`
//! backend op has no autodiff node of its own), each keeping its own saved tensors and each a pass over memory
//! in both directions.
//!
//! The model calls the tensor-level functions of this module ([`attention_softmax`], [`gelu`],
//! [`residual_layer_norm`], [`layer_norm`], [`dense`], [`attention_scores`], [`attention_context`], [`geglu`],
//! [`rope`], [`relative_gather`]); the optimizer calls [`SesameBackend::adamw_update`]. The seams of the attention
//! variants stay where they were: a variant with another normaliser (sparsegen-lin) does not call
//! [`attention_softmax`], every variant still receives the attention probabilities, and the value and context
//! transforms (the blur) still see `[B, n, d]` tensors.

mod autodiff;
pub mod composed;
#[cfg(feature = "flex")]
mod flex;
#[cfg(feature = "flex")]
mod flex_buffers;
#[cfg(feature = "flex")]
mod flex_gather;
#[cfg(feature = "flex")]
mod flex_optim;
#[cfg(feature = "flex")]
mod math;
pub mod precision;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub mod strict;
mod tensors;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{FloatTensor, IntTensor};

pub use precision::{precision, precisions, set_precision, use_precision, Precision, Products};
pub use tensors::{
    attention_context, attention_scores, attention_softmax, dense, geglu, gelu, layer_norm,
    relative_gather, residual_layer_norm, rope,
};

/// A burn backend with sesame's fused operations. Implemented for every backend sesame builds with; the default
/// methods compose ordinary burn ops.
pub trait SesameBackend: Backend {
    /// The backend's name in logs, run records and reports (`"cuda"`, `"wgpu"`, `"flex"`, `"ndarray"`).
    const NAME: &'static str = "custom";

    /// Whether it computes on the host CPU (its memory is the process's) rather than on a device of its own. The
    /// defaults that differ between CPU and GPU backends follow from it: where dropout masks are drawn
    /// ([`crate::bert::dropout::MaskSource::suited_to`]), the learner's shape plan and padding. A backend that
    /// does not say is treated as a device: its masks come from burn's device-side random, right on every
    /// backend.
    const ON_HOST: bool = false;

    /// Whether this backend computes `precision` on `device`. The CPU backends compute in f32 only.
    fn supports_precision(precision: Precision, _device: &Self::Device) -> bool {
        precision == Precision::F32
    }

    /// How the composed operations form the model's products under the process's precision ([`precision`]):
    /// burn's matmul on the CPU backends (f32 only), in half precision or on full-f32 kernels on the GPU ones.
    fn products() -> Products<Self> {
        Products::Burn
    }

    /// `softmax(scores / divisor + bias)` along the last axis. `scores`: `[B, H, n, m]`; `bias`: broadcastable
    /// to it, each of its first three axes either full or 1 (the padding mask is `[B, 1, 1, m]`, a learned bias
    /// `[B, H, n, m]`).
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

    /// `G ⊙ GELU'(x)` with the exact derivative `Φ(x) + x φ(x)`. burn's own `gelu_backward` is the derivative
    /// of the *tanh approximation* on ndarray and the GPU backends, which differs from PyTorch's by ~0.4 %.
    fn exact_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::exact_gelu_backward::<Self>(x, grad)
    }

    /// GeGLU's gate with the exact GELU: `GELU(a) ⊙ g` of `x = [a | g]` `[rows, 2·f]` → `[rows, f]` (ModernBERT's
    /// MLP, whose input projection writes both halves side by side).
    fn geglu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::geglu::<Self>(x)
    }

    /// The gradient of `x = [a | g]` from the output's gradient `G` `[rows, f]`:
    /// `[G ⊙ g ⊙ GELU'(a) | G ⊙ GELU(a)]`, `[rows, 2·f]`.
    fn geglu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::geglu_backward::<Self>(x, grad)
    }

    /// Rotary position embeddings (ModernBERT's queries and keys): `x ⊙ cos + rotate_half(x) ⊙ sin` per head,
    /// `rotate_half([x₁ | x₂]) = [−x₂ | x₁]` over each head's halves; `x: [B, n, H·d_h]` (heads side by side),
    /// `cos`, `sin`: `[n, d_h]`, each frequency in both halves. A rotation: its gradient is the rotation by the
    /// opposite angle, `rope(G, cos, −sin)`.
    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        composed::rope::<Self>(x, cos, sin, heads)
    }

    /// DeBERTa's relative-position gather: `out[b, h, i, j] = s[b, h, i, r(i, j)]`, or with `transposed`
    /// `s[b, h, j, r(i, j)]` (the p2c term, whose scores are indexed by key), where `s: [B, H, n, R]` are the
    /// scores against `R` relative rows and `rows: [n, n]` (Int) is `r`, shared by every batch element and head
    /// → `[B, H, n, n]`. burn's gather wants the index at the output's full shape and its backward scatters
    /// serially; a kernel reads the one `[n, n]` table and scatters each (batch, head) block on its own.
    fn relative_gather(
        scores: FloatTensor<Self>,
        rows: IntTensor<Self>,
        transposed: bool,
    ) -> FloatTensor<Self> {
        composed::relative_gather::<Self>(scores, rows, transposed)
    }

    /// The gradient of [`relative_gather`](Self::relative_gather)'s scores from the output's gradient `G`
    /// `[B, H, n, n]`: each `G[b, h, i, j]` added at the place it was read from, `[B, H, n, width]`.
    fn relative_gather_backward(
        grad: FloatTensor<Self>,
        rows: IntTensor<Self>,
        transposed: bool,
        width: usize,
    ) -> FloatTensor<Self> {
        composed::relative_gather_backward::<Self>(grad, rows, transposed, width)
    }

    /// `LayerNorm(x + residual)` over the last axis, `(s − mean) / √(var + ε) · γ + β` with the biased
    /// variance, as BERT's `BertSelfOutput`/`BertOutput` end. `x`, `residual`: the same shape `[..., d]`;
    /// `gamma`, `beta`: `[d]`. The evaluation form: nothing is kept for a backward pass.
    fn residual_layer_norm(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        composed::residual_layer_norm::<Self>(x, residual, gamma, beta, epsilon)
    }

    /// The training form of [`residual_layer_norm`](Self::residual_layer_norm): the output and what its
    /// backward pass needs.
    fn residual_layer_norm_saving(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> LayerNormSaved<Self> {
        composed::residual_layer_norm_saving::<Self>(x, residual, gamma, beta, epsilon)
    }

    /// The gradients of LayerNorm's input, γ and β from the output's gradient `G` (`[..., d]`):
    /// `dx̂ = G γ`, `ds = (dx̂ − mean(dx̂) − x̂ · mean(dx̂ ⊙ x̂)) / σ` (means along the last axis),
    /// `dγ = Σ G ⊙ x̂`, `dβ = Σ G` (sums over every other axis).
    fn layer_norm_backward(
        normalized: FloatTensor<Self>,
        inv_std: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> LayerNormGrads<Self> {
        composed::layer_norm_backward::<Self>(normalized, inv_std, gamma, grad)
    }

    /// `Q Kᵀ` of every head, from the projections with the heads side by side: `q: [B, n, H·d_h]`,
    /// `k: [B, m, H·d_h]` → `[B, H, n, m]` (not yet scaled). On a backend with a kernel the heads are read in
    /// place, with no split copy.
    fn attention_scores(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        composed::attention_scores::<Self>(q, k, heads, Self::products())
    }

    /// The gradients of `q` and `k` from the scores' gradient `G: [B, H, n, m]`: per head `G K` and `Gᵀ Q`, heads
    /// side by side again.
    fn attention_scores_backward(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        heads: usize,
    ) -> [FloatTensor<Self>; 2] {
        composed::attention_scores_backward::<Self>(q, k, grad, heads, Self::products())
    }

    /// `P V` of every head with the heads merged: `probs: [B, H, n, m]`, `v: [B, m, H·d_h]` → `[B, n, H·d_h]`.
    /// On a backend with a kernel each head's context is written straight into its columns (no merge copy).
    fn attention_context(
        probs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        composed::attention_context::<Self>(probs, v, heads, Self::products())
    }

    /// The gradients of `probs` and `v` from the context's gradient `G: [B, n, H·d_h]`: per head `G Vᵀ` and
    /// `Pᵀ G`.
    fn attention_context_backward(
        probs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        heads: usize,
    ) -> [FloatTensor<Self>; 2] {
        composed::attention_context_backward::<Self>(probs, v, grad, heads, Self::products())
    }

    /// `x W + b` for token rows `x: [rows, d_in]`, `W: [d_in, d_out]` (burn's `Linear` layout), `b: [d_out]`
    /// or none (ModernBERT's layers have no bias): every dense layer of the encoders, with the bias folded into
    /// the product on a backend with a kernel.
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        composed::dense::<Self>(x, weight, bias, Self::products())
    }

    /// `G Wᵀ`, the gradient of [`dense`](Self::dense)'s input (`G: [rows, d_out]`).
    fn dense_input_grad(weight: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::dense_input_grad::<Self>(weight, grad, Self::products())
    }

    /// `xᵀ G`, the gradient of [`dense`](Self::dense)'s weight.
    fn dense_weight_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::dense_weight_grad::<Self>(x, grad, Self::products())
    }

    /// `Σ_rows G`, the gradient of [`dense`](Self::dense)'s bias.
    fn dense_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::dense_bias_grad::<Self>(grad)
    }

    /// One AdamW update of one parameter (`torch.optim.AdamW`'s arithmetic, element-wise):
    /// `g ← g·s` (with a gradient scale `s`, `[1]`), `p ← p·decay`, `m ← β₁m + (1 − β₁)g`,
    /// `v ← β₂v + (1 − β₂)g²`, `p ← p − step · m / (√v / bias2_sqrt + ε)`; without moments (the first update)
    /// `m = (1 − β₁)g`, `v = (1 − β₂)g²`. `param`, `grad`, `m`, `v`: `[n]` (the optimizer flattens each
    /// parameter) → `[param, m, v]`. Composed, that is about fifteen passes over memory,
    /// each allocating a parameter-sized buffer; a kernel makes it one pass that writes `param`, `m` and `v`
    /// where they lie, with the same f32 arithmetic in the same order (the same bits).
    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moments: Option<[FloatTensor<Self>; 2]>,
        grad_scale: Option<FloatTensor<Self>>,
        step: AdamWStep,
    ) -> [FloatTensor<Self>; 3] {
        composed::adamw_update::<Self>(param, grad, moments, grad_scale, step)
    }

    /// `Σ x²` over every element, `[1]`: one parameter's share of the global gradient norm. Composed, a squared
    /// copy of the gradient and a sum; a kernel adds the squares as it reads them, in an order fixed by the
    /// tensor's size alone.
    fn sum_of_squares(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::sum_of_squares::<Self>(x)
    }
}

/// The scalars of one [`SesameBackend::adamw_update`], each as the optimizer computes it in f64 (the backends
/// round them to the tensors' f32).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// `1 − lr·λ`, the decoupled weight decay's factor; `None` for a parameter without decay.
    pub decay: Option<f64>,
    pub beta1: f64,
    pub beta2: f64,
    /// `√(1 − β₂ᵗ)`, the second moment's bias correction.
    pub bias2_sqrt: f64,
    pub epsilon: f64,
    /// `lr / (1 − β₁ᵗ)`: the learning rate with the first moment's bias correction.
    pub step_size: f64,
}

/// What the training form of LayerNorm keeps for its backward pass.
pub struct LayerNormSaved<B: Backend> {
    /// `x̂ γ + β`, `[..., d]`.
    pub output: FloatTensor<B>,
    /// `x̂ = (s − mean) / σ`, `[..., d]`.
    pub normalized: FloatTensor<B>,
    /// `1 / σ = 1 / √(var + ε)` per row, `[..., 1]`.
    pub inv_std: FloatTensor<B>,
}

/// The gradients of LayerNorm's inputs.
pub struct LayerNormGrads<B: Backend> {
    /// Of its input `s = x + residual` (so of `x` and of `residual`), `[..., d]`.
    pub input: FloatTensor<B>,
    /// Of γ, `[d]`.
    pub gamma: FloatTensor<B>,
    /// Of β, `[d]`.
    pub beta: FloatTensor<B>,
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

/// `impl SesameBackend for T {}`: the composed defaults, for backends without kernels of their own.
macro_rules! composed_backend {
    ($name:literal, on_host: $on_host:expr, $($backend:ty),* $(,)?) => {
        $(impl SesameBackend for $backend {
            const NAME: &'static str = $name;
            const ON_HOST: bool = $on_host;
        })*
    };
}

#[cfg(feature = "ndarray")]
composed_backend!("ndarray", on_host: true, burn::backend::NdArray<f32>, burn::backend::NdArray<f64>);

/// `impl SesameBackend` for a GPU backend: the composed operations, with the model's products in the
/// process's precision ([`precision`]). `tf32`: whether burn's f32 products may round to TF32 on this backend,
/// so that full f32 needs kernels of its own ([`strict`]).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
macro_rules! gpu_backend {
    ($backend:ty, name: $name:literal, runtime: $runtime:ty, bool: $bool:ty, tf32: $tf32:expr) => {
        impl SesameBackend for $backend {
            const NAME: &'static str = $name;
            const ON_HOST: bool = false;

            fn supports_precision(precision: Precision, device: &Self::Device) -> bool {
                use burn::tensor::DType;
                match precision {
                    Precision::F32 => true,
                    Precision::Tf32 => $tf32,
                    Precision::Bf16 => <Self as Backend>::supports_dtype(device, DType::BF16),
                    Precision::F16 => <Self as Backend>::supports_dtype(device, DType::F16),
                }
            }

            fn products() -> Products<Self> {
                match precision() {
                    Precision::Bf16 => Products::Half(burn::tensor::FloatDType::BF16),
                    Precision::F16 => Products::Half(burn::tensor::FloatDType::F16),
                    Precision::F32 if $tf32 || strict::forced() => {
                        Products::Kernel(strict::matmul::<$runtime, $bool>)
                    }
                    Precision::F32 | Precision::Tf32 => Products::Burn,
                }
            }
        }
    };
}

// Vulkan, Metal and DirectX 12 have no TF32 type: wgpu's f32 products are f32 with burn's own kernels.
#[cfg(feature = "wgpu")]
gpu_backend!(
    burn::backend::Wgpu<f32, i32>,
    name: "wgpu",
    runtime: burn_cubecl::cubecl::wgpu::WgpuRuntime,
    bool: u32,
    tf32: false
);
#[cfg(feature = "cuda")]
gpu_backend!(
    burn::backend::Cuda<f32, i32>,
    name: "cuda",
    runtime: burn_cubecl::cubecl::cuda::CudaRuntime,
    bool: u8,
    tf32: true
);
