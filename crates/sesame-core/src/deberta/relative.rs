//! Relative positions of disentangled attention: the distance `δ = i − j` between a query and a key, its
//! log bucket (`make_log_bucket_position`), and the row of the relative-embedding table each (query, key) pair
//! reads (`clamp(bucket(δ) + k, 0, 2k − 1)` with `k` the attention span). The tables are integers that depend on
//! the sequence length only, built on the host once per forward pass.

use std::ops::Range;

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

/// `make_log_bucket_position` of one distance: distances up to `buckets / 2` keep their value; beyond, they
/// share buckets that grow logarithmically up to `max_position`. Computed in f32, as `transformers` computes it.
pub fn log_bucket(delta: i64, buckets: usize, max_position: usize) -> i64 {
    let mid = (buckets / 2) as i64;
    let abs = delta.abs();
    if abs <= mid {
        return delta;
    }
    let (mid_f, abs_f) = (mid as f32, abs as f32);
    let ratio = (abs_f / mid_f).ln() / ((max_position - 1) as f32 / mid_f).ln();
    let log_pos = (ratio * (mid_f - 1.0)).ceil() as i64 + mid;
    log_pos * delta.signum()
}

/// The bucket of `δ` when buckets are on, else `δ` itself.
fn relative_position(delta: i64, buckets: Option<usize>, max_position: usize) -> i64 {
    match buckets {
        Some(b) => log_bucket(delta, b, max_position),
        None => delta,
    }
}

/// Row `r` of the table at (query i, key j), row-major `[n, n]`: `clamp(rel(i − j) + span, 0, 2·span − 1)`.
pub fn relative_rows(
    n: usize,
    span: usize,
    buckets: Option<usize>,
    max_position: usize,
) -> Vec<i64> {
    let top = 2 * span as i64 - 1;
    (0..n * n)
        .map(|k| {
            let delta = (k / n) as i64 - (k % n) as i64;
            (relative_position(delta, buckets, max_position) + span as i64).clamp(0, top)
        })
        .collect()
}

/// The smallest range of table rows that holds every row of `rows` (the output of [`relative_rows`]).
pub fn rows_read(rows: &[i64]) -> Range<usize> {
    let first = rows.iter().copied().min().unwrap_or(0);
    let last = rows.iter().copied().max().unwrap_or(-1);
    first as usize..(last + 1) as usize
}

/// The table rows of a sequence's (query, key) pairs, `[n, n]` (one table for the whole batch and every head:
/// [`crate::fused::relative_gather`] reads it as it is), counted from the first row that a pair of this length
/// reads.
///
/// Only `read` of the `2k` table rows are ever read: with `n` below the bucket midpoint the distances span
/// `2n − 1` rows. `transformers` projects and multiplies all `2k` rows (512 for DeBERTa-v3) and gathers from
/// them; the scores at the other rows are never read and their gradient is zero, so projecting `read` alone
/// gives the same numbers with a product and a gather (and their backward) of `2n − 1` columns instead of `2k`.
#[derive(Debug, Clone)]
pub struct RelativeIndex<B: Backend> {
    /// (query i, key j) → row − `read.start`. The p2c term reads it transposed: (key j, query i).
    pub rows: Tensor<B, 2, Int>,
    /// The table rows that some pair reads.
    pub read: Range<usize>,
}

impl<B: Backend> RelativeIndex<B> {
    pub fn new(
        n: usize,
        span: usize,
        buckets: Option<usize>,
        max_position: usize,
        device: &B::Device,
    ) -> Self {
        let rows = relative_rows(n, span, buckets, max_position);
        let read = rows_read(&rows);
        let rows = rows
            .into_iter()
            .map(|r| r - read.start as i64)
            .collect::<Vec<_>>();
        RelativeIndex {
            rows: Tensor::from_data(TensorData::new(rows, [n, n]), device),
            read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of `make_log_bucket_position` for DeBERTa-v3's settings (256 buckets, 512 positions) and the
    /// tiny test model's (8 buckets, 256 positions), worked by hand from its formula.
    #[test]
    fn buckets_follow_transformers_formula() {
        // Up to buckets / 2 the distance is its own bucket, on both sides.
        for d in -128..=128 {
            assert_eq!(log_bucket(d, 256, 512), d);
        }
        // mid 4, log(255 / 4) ≈ 4.155: 5 → ceil(log(1.25) / 4.155 · 3) + 4 = 1 + 4; 255 → 3 + 4.
        assert_eq!(log_bucket(5, 8, 256), 5);
        assert_eq!(log_bucket(-5, 8, 256), -5);
        assert_eq!(log_bucket(16, 8, 256), 6); // log(4) / 4.155 · 3 = 1.0009 → 2
        assert_eq!(log_bucket(15, 8, 256), 5); // log(3.75) / 4.155 · 3 = 0.954 → 1
        assert_eq!(log_bucket(255, 8, 256), 7);
        assert_eq!(log_bucket(-127, 8, 256), -7);
        // mid 128, log(511 / 128) ≈ 1.3843: 129 → ceil(0.00778 / 1.3843 · 127) + 128 = 1 + 128.
        assert_eq!(log_bucket(129, 256, 512), 129);
        assert_eq!(log_bucket(511, 256, 512), 255);
    }

    #[test]
    fn rows_are_clamped_into_the_table_and_odd_in_the_distance() {
        let n = 40;
        let rows = relative_rows(n, 8, Some(8), 256);
        assert!(rows.iter().all(|r| (0..16).contains(r)));
        // The bucket is odd in i − j: (i, j) and (j, i) sit symmetrically around the centre row, so the p2c
        // term, which reads the table transposed, reads the same rows as c2p.
        for i in 0..n {
            for j in 0..n {
                assert_eq!(rows[i * n + j] - 8, 8 - rows[j * n + i]);
            }
        }
        // Query 0, key 0: distance 0 → row span; query 0, key 1: −1 → span − 1; key 39: bucket −6.
        assert_eq!(rows[0], 8);
        assert_eq!(rows[1], 7);
        assert_eq!(rows[39], 8 - 6);
        // 40 tokens reach buckets −6..6 only: rows 0, 1 and 15 are never read.
        assert_eq!(rows_read(&rows), 2..15);
        // DeBERTa-v3-base at 128 tokens: distances −127..127 stay below the bucket midpoint (128), so 255
        // of the 512 rows are read, around the centre row 256.
        assert_eq!(
            rows_read(&relative_rows(128, 256, Some(256), 512)),
            129..384
        );
        // Without buckets the distance itself, clamped.
        let plain = relative_rows(4, 2, None, 512);
        assert_eq!(plain, vec![2, 1, 0, 0, 3, 2, 1, 0, 3, 3, 2, 1, 3, 3, 3, 2]);
    }
}
