//! The optimizer's element-wise work composed from burn ops: the defaults of
//! [`SesameBackend::adamw_update`](crate::fused::SesameBackend::adamw_update) and
//! [`SesameBackend::sum_of_squares`](crate::fused::SesameBackend::sum_of_squares).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, TensorMetadata};

use super::{unwrap, wrap};
use crate::fused::AdamWStep;

/// AdamW's update of one parameter, in the order of operations the optimizer ran before it had a fused form.
pub fn adamw_update<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    moments: Option<[FloatTensor<B>; 2]>,
    grad_scale: Option<FloatTensor<B>>,
    step: AdamWStep,
) -> [FloatTensor<B>; 3] {
    let mut grad = wrap::<B, 1>(grad);
    if let Some(scale) = grad_scale {
        grad = grad * wrap::<B, 1>(scale);
    }
    let mut p = wrap::<B, 1>(param);
    if let Some(decay) = step.decay {
        p = p.mul_scalar(decay);
    }
    let (m, v) = match moments {
        Some([m, v]) => (
            wrap::<B, 1>(m).mul_scalar(step.beta1) + grad.clone().mul_scalar(1.0 - step.beta1),
            wrap::<B, 1>(v).mul_scalar(step.beta2)
                + grad.powi_scalar(2).mul_scalar(1.0 - step.beta2),
        ),
        None => (
            grad.clone().mul_scalar(1.0 - step.beta1),
            grad.powi_scalar(2).mul_scalar(1.0 - step.beta2),
        ),
    };
    let denom = v
        .clone()
        .sqrt()
        .div_scalar(step.bias2_sqrt)
        .add_scalar(step.epsilon);
    let p = p - m.clone().div(denom).mul_scalar(step.step_size);
    [unwrap(p), unwrap(m), unwrap(v)]
}

/// `Σ x²` over every element, `[1]`, as the optimizer's norm computed it before it had a fused form.
pub fn sum_of_squares<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let n = x.shape().num_elements();
    let flat = wrap::<B, 1>(B::float_reshape(x, Shape::from([n])));
    unwrap(flat.powi_scalar(2).sum())
}
