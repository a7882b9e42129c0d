//! The fused operations as CPU kernels on burn's flex backend: one pass over memory per operation and
//! direction, rows in parallel on rayon's pool (the pool flex's own kernels use), vector code through
//! [`multiversion`](super::math::multiversion).
//!
//! A kernel writes its result into its input's buffer when the tensor holds the only reference to it (the
//! scores of `QKᵀ`, an incoming gradient), so the hot path allocates nothing. Inputs it does not cover (other
//! element types, bias shapes other than the documented ones) go to the composed default.

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use rayon::prelude::*;

use super::math::{self, multiversion};
use super::{composed, SesameBackend};

/// Attention rows per rayon task (each row is one query's `m` logits).
const ROWS_PER_TASK: usize = 32;
/// Elements per rayon task of the element-wise kernels.
const ELEMENTS_PER_TASK: usize = 16 * 1024;

impl SesameBackend for Flex {
    fn attention_softmax(scores: FlexTensor, bias: FlexTensor, divisor: f64) -> FlexTensor {
        let Some(geometry) = BiasGeometry::of(&scores.shape(), &bias.shape()) else {
            return composed::attention_softmax::<Flex>(scores, bias, divisor);
        };
        if scores.dtype() != DType::F32 || bias.dtype() != DType::F32 {
            return composed::attention_softmax::<Flex>(scores, bias, divisor);
        }
        let bias = bias.to_contiguous();
        let bias: &[f32] = bias.storage();
        let divisor = divisor as f32;
        let m = geometry.m;
        map_in_place(scores, |out| {
            out.par_chunks_mut(ROWS_PER_TASK * m)
                .enumerate()
                .for_each(|(task, rows)| {
                    softmax_rows(rows, task * ROWS_PER_TASK, bias, &geometry, divisor)
                });
        })
    }

    fn attention_softmax_backward(probs: FlexTensor, grad: FlexTensor, divisor: f64) -> FlexTensor {
        let shape = probs.shape();
        if probs.dtype() != DType::F32 || grad.dtype() != DType::F32 || grad.shape() != shape {
            return composed::attention_softmax_backward::<Flex>(probs, grad, divisor);
        }
        let m = shape[shape.num_dims() - 1];
        let probs = probs.to_contiguous();
        let probs: &[f32] = probs.storage();
        let divisor = divisor as f32;
        map_in_place(grad, |out| {
            out.par_chunks_mut(ROWS_PER_TASK * m)
                .zip(probs.par_chunks(ROWS_PER_TASK * m))
                .for_each(|(grad, probs)| softmax_backward_rows(grad, probs, m, divisor));
        })
    }

    fn exact_gelu(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return composed::exact_gelu::<Flex>(x);
        }
        let x = x.to_contiguous();
        let input: &[f32] = x.storage();
        let mut out = vec![0.0f32; input.len()];
        out.par_chunks_mut(ELEMENTS_PER_TASK)
            .zip(input.par_chunks(ELEMENTS_PER_TASK))
            .for_each(|(out, input)| gelu_slice(out, input));
        FlexTensor::from_data(TensorData::new(out, x.shape()))
    }

    fn exact_gelu_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 || x.shape() != grad.shape() {
            return composed::exact_gelu_backward::<Flex>(x, grad);
        }
        let x = x.to_contiguous();
        let input: &[f32] = x.storage();
        map_in_place(grad, |out| {
            out.par_chunks_mut(ELEMENTS_PER_TASK)
                .zip(input.par_chunks(ELEMENTS_PER_TASK))
                .for_each(|(grad, input)| gelu_backward_slice(grad, input));
        })
    }
}

/// Applies `kernel` to a contiguous f32 copy of `tensor` — the tensor's own buffer when nothing else holds it.
fn map_in_place(tensor: FloatTensor<Flex>, kernel: impl FnOnce(&mut [f32])) -> FlexTensor {
    let contiguous = tensor.to_contiguous();
    // `to_contiguous` of a contiguous tensor shares its buffer; dropping the original makes it unique again.
    drop(tensor);
    let mut contiguous = contiguous;
    if let Some(buffer) = contiguous.try_storage_mut::<f32>() {
        kernel(buffer);
        return contiguous;
    }
    let mut owned: Vec<f32> = contiguous.storage::<f32>().to_vec();
    kernel(&mut owned);
    FlexTensor::from_data(TensorData::new(owned, contiguous.shape()))
}

/// Where the bias row of each attention row lies: `bias` is `[bb, bh, bn, m]` contiguous, each of `bb, bh, bn`
/// either 1 (broadcast) or the scores' size.
struct BiasGeometry {
    heads: usize,
    queries: usize,
    m: usize,
    /// `[bb, bh, bn]`.
    bias_dims: [usize; 3],
}

impl BiasGeometry {
    fn of(scores: &Shape, bias: &Shape) -> Option<Self> {
        if scores.num_dims() != 4 || bias.num_dims() != 4 || bias[3] != scores[3] {
            return None;
        }
        let fits = |axis: usize| bias[axis] == scores[axis] || bias[axis] == 1;
        if !(fits(0) && fits(1) && fits(2)) || scores[3] == 0 {
            return None;
        }
        Some(BiasGeometry {
            heads: scores[1],
            queries: scores[2],
            m: scores[3],
            bias_dims: [bias[0], bias[1], bias[2]],
        })
    }

    /// Offset of the bias row for attention row `row` (`row = (b·H + h)·n + i`); an axis of size 1 in the bias
    /// is broadcast (index 0).
    #[inline(always)]
    fn bias_offset(&self, row: usize) -> usize {
        let i = row % self.queries;
        let h = (row / self.queries) % self.heads;
        let b = row / (self.queries * self.heads);
        let [bb, bh, bn] = self.bias_dims;
        let at = |index: usize, size: usize| if size == 1 { 0 } else { index };
        ((at(b, bb) * bh + at(h, bh)) * bn + at(i, bn)) * self.m
    }
}

/// Lanes of the partial maxima and sums: a multiple of every vector width, so the reductions vectorise.
const LANES: usize = 16;

multiversion! {
    /// `rows` (whole rows of `geometry.m` logits, the first being attention row `first_row`) ← softmax of
    /// `row / divisor + bias row`.
    fn softmax_rows(rows: &mut [f32], first_row: usize, bias: &[f32], geometry: &BiasGeometry, divisor: f32) {
        let m = geometry.m;
        for (k, row) in rows.chunks_exact_mut(m).enumerate() {
            let offset = geometry.bias_offset(first_row + k);
            let bias_row = &bias[offset..offset + m];
            let mut maxima = [f32::NEG_INFINITY; LANES];
            for (chunk, bias_chunk) in row.chunks_mut(LANES).zip(bias_row.chunks(LANES)) {
                for ((x, &b), max) in chunk.iter_mut().zip(bias_chunk).zip(maxima.iter_mut()) {
                    *x = *x / divisor + b;
                    *max = if *x > *max { *x } else { *max };
                }
            }
            let max = maxima.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
            let mut sums = [0.0f32; LANES];
            for chunk in row.chunks_mut(LANES) {
                for (x, sum) in chunk.iter_mut().zip(sums.iter_mut()) {
                    *x = math::exp_nonpositive(*x - max);
                    *sum += *x;
                }
            }
            let sum: f32 = sums.iter().sum();
            for x in row.iter_mut() {
                *x /= sum;
            }
        }
    }
}

multiversion! {
    /// `grad` ← `probs ⊙ (grad − Σ grad ⊙ probs) / divisor` row by row (rows of `m`).
    fn softmax_backward_rows(grad: &mut [f32], probs: &[f32], m: usize, divisor: f32) {
        for (g, p) in grad.chunks_exact_mut(m).zip(probs.chunks_exact(m)) {
            let mut dots = [0.0f32; LANES];
            for (g_chunk, p_chunk) in g.chunks(LANES).zip(p.chunks(LANES)) {
                for ((&g, &p), dot) in g_chunk.iter().zip(p_chunk).zip(dots.iter_mut()) {
                    *dot += g * p;
                }
            }
            let dot: f32 = dots.iter().sum();
            for (g, &p) in g.iter_mut().zip(p) {
                *g = p * (*g - dot) / divisor;
            }
        }
    }
}

multiversion! {
    /// `out` ← GELU(`input`).
    fn gelu_slice(out: &mut [f32], input: &[f32]) {
        for (y, &x) in out.iter_mut().zip(input) {
            *y = math::gelu(x);
        }
    }
}

multiversion! {
    /// `grad` ← `grad ⊙ GELU'(input)`.
    fn gelu_backward_slice(grad: &mut [f32], input: &[f32]) {
        for (g, &x) in grad.iter_mut().zip(input) {
            *g *= math::gelu_derivative(x);
        }
    }
}
