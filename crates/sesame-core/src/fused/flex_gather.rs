//! DeBERTa's relative-position gather and its backward scatter as flex kernels (see
//! [`SesameBackend::relative_gather`](super::SesameBackend::relative_gather)).
//!
//! burn's gather wants its index at the output's full shape, `[B, H, n, n]`: flex copies the expanded index
//! into a buffer of its own and converts it on every call (for DeBERTa-v3-base at 32 × 128, 6.3 M indices per
//! gather, four gathers per layer with the backward), computes each element's place by dividing its flat
//! position, and scatters the backward pass on one thread. These kernels read the one `[n, n]` table and work
//! on each (batch, head) block on its own thread; within a block the adds run in a fixed order, so the result
//! does not depend on the scheduling.

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorData, TensorMetadata};
use rayon::prelude::*;

/// The row table `r(i, j)` of an `[n, n]` integer tensor, checked against the scores' width.
pub(super) struct RowTable {
    rows: Vec<usize>,
    n: usize,
}

impl RowTable {
    /// `None` for a table these kernels do not cover (not `[n, n]`, another integer type, a row outside
    /// `0..width`): the caller then takes the composed form, which reports a bad index itself.
    pub(super) fn of(rows: &FlexTensor, width: usize) -> Option<Self> {
        let shape = rows.shape();
        if shape.num_dims() != 2 || shape[0] != shape[1] {
            return None;
        }
        let rows = rows.clone().to_contiguous();
        let values: Vec<i64> = match rows.dtype() {
            DType::I64 => rows.storage::<i64>().to_vec(),
            DType::I32 => rows.storage::<i32>().iter().map(|&r| r as i64).collect(),
            _ => return None,
        };
        let rows = values
            .into_iter()
            .map(|r| usize::try_from(r).ok().filter(|&r| r < width))
            .collect::<Option<Vec<_>>>()?;
        Some(RowTable { rows, n: shape[0] })
    }

    pub(super) fn n(&self) -> usize {
        self.n
    }

    /// `r(i, ·)`.
    fn row(&self, i: usize) -> &[usize] {
        &self.rows[i * self.n..(i + 1) * self.n]
    }
}

/// `out[b, h, i, j] = s[b, h, i, r(i, j)]` (`transposed`: `s[b, h, j, r(i, j)]`); `scores` f32
/// `[B, H, n, width]` with `n` the table's.
pub(super) fn gather(scores: FlexTensor, table: &RowTable, transposed: bool) -> FlexTensor {
    let shape = scores.shape();
    let (n, width) = (table.n, shape[3]);
    let blocks = shape[0] * shape[1];
    let scores = scores.to_contiguous();
    let scores: &[f32] = scores.storage();
    let mut out = vec![0.0f32; blocks * n * n];
    out.par_chunks_mut(n * n)
        .zip(scores.par_chunks(n * width))
        .for_each(|(out, scores)| {
            for (i, out) in out.chunks_exact_mut(n).enumerate() {
                let rows = table.row(i);
                if transposed {
                    for (j, (o, &r)) in out.iter_mut().zip(rows).enumerate() {
                        *o = scores[j * width + r];
                    }
                } else {
                    let scores = &scores[i * width..(i + 1) * width];
                    for (o, &r) in out.iter_mut().zip(rows) {
                        *o = scores[r];
                    }
                }
            }
        });
    FlexTensor::from_data(TensorData::new(out, [shape[0], shape[1], n, n]))
}

/// The gradient of [`gather`]'s scores: `[B, H, n, width]` zeros with each `G[b, h, i, j]` added where it was
/// read from; `grad` f32 `[B, H, n, n]`.
pub(super) fn scatter(
    grad: FlexTensor,
    table: &RowTable,
    transposed: bool,
    width: usize,
) -> FlexTensor {
    let shape = grad.shape();
    let n = table.n;
    let blocks = shape[0] * shape[1];
    let grad = grad.to_contiguous();
    let grad: &[f32] = grad.storage();
    let mut out = vec![0.0f32; blocks * n * width];
    out.par_chunks_mut(n * width)
        .zip(grad.par_chunks(n * n))
        .for_each(|(out, grad)| {
            for (i, grad) in grad.chunks_exact(n).enumerate() {
                let rows = table.row(i);
                if transposed {
                    for (j, (&g, &r)) in grad.iter().zip(rows).enumerate() {
                        out[j * width + r] += g;
                    }
                } else {
                    let out = &mut out[i * width..(i + 1) * width];
                    for (&g, &r) in grad.iter().zip(rows) {
                        out[r] += g;
                    }
                }
            }
        });
    FlexTensor::from_data(TensorData::new(out, [shape[0], shape[1], n, width]))
}
