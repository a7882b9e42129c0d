//! Tensor-level functions below everything else in this crate: element-wise functions sesame computes itself
//! instead of calling burn's, and copies to the host ([`host`]). They import nothing from the model.

pub mod host;

use burn::tensor::{backend::Backend, Tensor};

/// The logistic function `1 / (1 + e^{−x})` at the backend's own precision.
///
/// burn 0.21's `activation::sigmoid` computes in f32 whatever the float type (it casts, then casts back), which
/// breaks f64 gradient checks and costs precision in f64 runs; this composition keeps the element type.
/// For x → −∞, `e^{−x}` overflows to +∞ and the result is exactly 0, as it should be. The division is
/// [`reciprocal`]'s (with `recip`, the SE gates of a training batch came out rounded to ~2⁻¹⁶ on ndarray).
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    reciprocal(x.neg().exp() + 1.0)
}

/// `1 / x` by a division, exact on every backend (and so is its backward pass).
///
/// Not burn's `recip`: burn-ndarray 0.21's SIMD `recip` on f32 tensors of 32 or more contiguous elements is the
/// hardware *approximate* reciprocal (`rcpps`, 12 bits on AVX2; `vrcp14ps`, 14 bits on AVX-512). On a tensor it
/// owns alone it works in place and approximates only the vector-aligned middle of the buffer, so its result
/// depends on the CPU, the tensor's length and where the allocator put the buffer: a training run that used it
/// was not repeatable bit for bit (a resumed run differed from an uninterrupted one by ~1e-7).
pub fn reciprocal<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::ones_like(&x) / x
}
