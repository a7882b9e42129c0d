//! The optimizer's element-wise work as flex kernels: AdamW's update of one parameter in one pass (see
//! [`SesameBackend::adamw_update`](super::SesameBackend::adamw_update)) and the sum of squares of a gradient
//! for the global norm ([`SesameBackend::sum_of_squares`](super::SesameBackend::sum_of_squares)).
//!
//! Composed from burn ops, an update is about fifteen element-wise passes, and burn-flex runs scalar ops on one
//! thread and allocates a fresh buffer for every op whose input is shared; the norm squared the gradient into a
//! new buffer before summing it. For DeBERTa-v3-base (184 M parameters, most of them its 128 k-token embedding)
//! the two took 5-6 s per step here, a third of an 8 × 128 training step. The update kernel reads the gradient
//! once and rewrites the parameter and both moments where they lie, on every core. Its f32 arithmetic is the
//! composed form's, operation for operation (no fused multiply-add), so both give the same bits. The sum of
//! squares adds fixed blocks in a fixed order, so it does not depend on the number of threads, the scheduling
//! or the CPU's vector width (burn-flex's parallel sum, whose order follows rayon's work stealing, may).

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorData, TensorMetadata};
use rayon::prelude::*;

use super::flex_buffers::{contiguous_values, Writable};
use super::math::multiversion;
use super::AdamWStep;

/// Elements per rayon task: large enough that a task's four streams stay in flight, small enough to balance.
const ELEMENTS_PER_TASK: usize = 64 * 1024;

/// The update's scalars rounded to f32, as the composed form's scalar ops round them. An absent gradient scale
/// or decay is 1, by which a product is exact.
#[derive(Clone, Copy)]
pub(super) struct Scalars {
    grad_scale: f32,
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias2_sqrt: f32,
    epsilon: f32,
    step_size: f32,
}

/// The update's scalars, or `None` for tensors this kernel does not cover (not all f32, sizes that differ, a
/// gradient scale that is not one value): the caller then takes the composed form.
pub(super) fn scalars(
    param: &FlexTensor,
    grad: &FlexTensor,
    moments: Option<&[FlexTensor; 2]>,
    grad_scale: Option<&FlexTensor>,
    step: AdamWStep,
) -> Option<Scalars> {
    let n = param.shape().num_elements();
    let mut tensors = vec![param, grad];
    tensors.extend(moments.into_iter().flatten());
    let covered = tensors
        .iter()
        .all(|t| t.dtype() == DType::F32 && t.shape().num_elements() == n)
        && grad_scale.is_none_or(|s| s.dtype() == DType::F32 && s.shape().num_elements() == 1);
    covered.then(|| Scalars {
        grad_scale: grad_scale.map_or(1.0, |s| contiguous_values(&s.to_contiguous())[0]),
        decay: step.decay.map_or(1.0, |d| d as f32),
        beta1: step.beta1 as f32,
        one_minus_beta1: (1.0 - step.beta1) as f32,
        beta2: step.beta2 as f32,
        one_minus_beta2: (1.0 - step.beta2) as f32,
        bias2_sqrt: step.bias2_sqrt as f32,
        epsilon: step.epsilon as f32,
        step_size: step.step_size as f32,
    })
}

/// The update with the [`scalars`] checked: `param`, `m` and `v` rewritten in place where nothing else holds
/// their buffers (copied first where something does).
pub(super) fn apply(
    param: FlexTensor,
    grad: FlexTensor,
    moments: Option<[FlexTensor; 2]>,
    scalars: Scalars,
) -> [FlexTensor; 3] {
    let shape = param.shape();
    let grad = grad.to_contiguous();
    let grad = contiguous_values(&grad);
    let mut param = Writable::of(param);
    let (mut m, mut v, first) = match moments {
        Some([m, v]) => (Writable::of(m), Writable::of(v), false),
        None => (Writable::zeros(&shape), Writable::zeros(&shape), true),
    };
    let block = ELEMENTS_PER_TASK;
    param
        .values()
        .par_chunks_mut(block)
        .zip(m.values().par_chunks_mut(block))
        .zip(v.values().par_chunks_mut(block))
        .zip(grad.par_chunks(block))
        .for_each(|(((p, m), v), g)| {
            if first {
                first_update(p, m, v, g, &scalars)
            } else {
                later_update(p, m, v, g, &scalars)
            }
        });
    [param.into_tensor(), m.into_tensor(), v.into_tensor()]
}

multiversion! {
    /// The first update of a block (no moments yet), written as the composed ops compute it.
    fn first_update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: &Scalars) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = g * s.grad_scale;
            *m = g * s.one_minus_beta1;
            *v = (g * g) * s.one_minus_beta2;
            let denom = v.sqrt() / s.bias2_sqrt + s.epsilon;
            *p = *p * s.decay - (*m / denom) * s.step_size;
        }
    }
}

multiversion! {
    /// A later update of a block, written as the composed ops compute it.
    fn later_update(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: &Scalars) {
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let g = g * s.grad_scale;
            *m = *m * s.beta1 + g * s.one_minus_beta1;
            *v = *v * s.beta2 + (g * g) * s.one_minus_beta2;
            let denom = v.sqrt() / s.bias2_sqrt + s.epsilon;
            *p = *p * s.decay - (*m / denom) * s.step_size;
        }
    }
}

/// Elements per block of the sum of squares; the blocks' sums are added in order.
const SQUARES_PER_BLOCK: usize = 64 * 1024;
/// Independent partial sums within a block: a fixed width, so the order of the adds does not depend on the CPU's
/// vector width.
const SQUARE_LANES: usize = 16;

/// `Σ x²` of an f32 tensor, `[1]`; `None` for another dtype.
pub(super) fn sum_of_squares(x: &FlexTensor) -> Option<FlexTensor> {
    if x.dtype() != DType::F32 {
        return None;
    }
    let x = x.to_contiguous();
    let values = contiguous_values(&x);
    let blocks: Vec<f32> = values
        .par_chunks(SQUARES_PER_BLOCK)
        .map(|block| {
            let mut lanes = [0.0f32; SQUARE_LANES];
            block_squares(block, &mut lanes);
            lanes.iter().sum::<f32>()
        })
        .collect();
    let total: f32 = blocks.iter().sum();
    Some(FlexTensor::from_data(TensorData::new(vec![total], [1])))
}

multiversion! {
    /// Adds the squares of `block` into `lanes`, element `i` into lane `i mod 16`.
    fn block_squares(block: &[f32], lanes: &mut [f32; SQUARE_LANES]) {
        let mut chunks = block.chunks_exact(SQUARE_LANES);
        for chunk in &mut chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                *lane += x * x;
            }
        }
        for (lane, &x) in lanes.iter_mut().zip(chunks.remainder()) {
            *lane += x * x;
        }
    }
}
