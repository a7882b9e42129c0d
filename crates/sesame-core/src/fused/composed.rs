//! The fused operations composed from ordinary burn ops: the default methods of
//! [`SesameBackend`](super::SesameBackend), the reference the kernels are tested against, and (applied to an
//! autodiff backend) the reference for their backward passes.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorMetadata, TensorPrimitive};

fn wrap<B: Backend, const D: usize>(x: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

fn unwrap<B: Backend, const D: usize>(x: Tensor<B, D>) -> FloatTensor<B> {
    x.into_primitive().tensor()
}

/// An element-wise function applied to a tensor of any rank, through a rank-1 view.
fn elementwise<B: Backend>(
    x: FloatTensor<B>,
    f: impl FnOnce(Tensor<B, 1>) -> Tensor<B, 1>,
) -> FloatTensor<B> {
    let shape = x.shape();
    let flat = B::float_reshape(x, Shape::from([shape.num_elements()]));
    B::float_reshape(unwrap(f(wrap(flat))), shape)
}

/// `softmax(scores / divisor + bias)` along the last axis, exactly the ops the attention ran before it had a
/// fused form.
pub fn attention_softmax<B: Backend>(
    scores: FloatTensor<B>,
    bias: FloatTensor<B>,
    divisor: f64,
) -> FloatTensor<B> {
    let logits = wrap::<B, 4>(scores) / divisor + wrap::<B, 4>(bias);
    unwrap(softmax(logits, 3))
}

/// `P ⊙ (G − Σ_j G ⊙ P) / divisor`, the sum along the last axis.
pub fn attention_softmax_backward<B: Backend>(
    probs: FloatTensor<B>,
    grad: FloatTensor<B>,
    divisor: f64,
) -> FloatTensor<B> {
    let probs = wrap::<B, 4>(probs);
    let grad = wrap::<B, 4>(grad);
    let row_dot = (grad.clone() * probs.clone()).sum_dim(3);
    let grad_logits = probs * (grad - row_dot);
    if divisor == 1.0 {
        unwrap(grad_logits)
    } else {
        unwrap(grad_logits / divisor)
    }
}

/// `½ x (1 + erf(x / √2))`, in the order of operations the model used before.
pub fn exact_gelu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    elementwise::<B>(x, |x| {
        let cdf = (x.clone() / std::f64::consts::SQRT_2).erf() + 1.0;
        x * cdf * 0.5
    })
}

/// `G ⊙ (Φ(x) + x φ(x))`, `Φ(x) = ½ (1 + erf(x / √2))`, `φ(x) = e^{−x²/2} / √(2π)`.
pub fn exact_gelu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let n = Shape::from([shape.num_elements()]);
    let x = wrap::<B, 1>(B::float_reshape(x, n.clone()));
    let grad = wrap::<B, 1>(B::float_reshape(grad, n));
    let cdf = ((x.clone() / std::f64::consts::SQRT_2).erf() + 1.0) * 0.5;
    let inv_sqrt_2pi = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let pdf = (x.clone() * x.clone() * -0.5).exp() * inv_sqrt_2pi;
    let derivative = cdf + x * pdf;
    B::float_reshape(unwrap(grad * derivative), shape)
}
