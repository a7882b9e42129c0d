//! Element-wise functions sesame computes itself instead of calling burn's.

use burn::tensor::{backend::Backend, Tensor};

/// The logistic function `1 / (1 + e^{−x})` at the backend's own precision.
///
/// burn 0.21's `activation::sigmoid` computes in f32 whatever the float type (it casts, then casts back), which
/// breaks f64 gradient checks and costs precision in f64 runs; this composition keeps the element type.
/// For x → −∞, `e^{−x}` overflows to +∞ and the result is exactly 0, as it should be.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    (x.neg().exp() + 1.0).recip()
}
