//! The shape plan: every tensor shape a run will see, decided before it starts.
//!
//! On the GPU backends each new input shape can cost kernel compilations and autotune runs (about a minute at
//! the start of a MiniLM fine-tune on an H200, docs/performance.md). A plan fixes the shapes instead:
//!
//! - every batch, training and evaluation, has the same number of rows; a shorter one (the last of an epoch or
//!   of a dev set) is filled with *filler rows* that the loss, the guiding losses and the predictions leave out
//!   (their weight is 0, [`RowWeights`]);
//! - lengths are padded to one of a few *buckets*, chosen from the data so that padding stays small (the fewest
//!   padded tokens over the training and dev lengths), multiples of 8, and never equal to another dimension of
//!   the model or to a row count `rows × length` (burn's kernel fusion keys its plans on which dimensions are
//!   equal, so a length of 32 beside MiniLM's batch of 32 and head size of 32 would cost plans of its own);
//! - the learner runs each planned shape once before the first update ([`crate::trainer`]'s warm-up), so the
//!   training loop itself compiles nothing.
//!
//! On the CPU backends padding is only wasted work: there the learner pads each batch to its longest row and
//! uses no plan.

use std::collections::BTreeSet;

use burn::tensor::{backend::Backend, Tensor, TensorData};
use sesame_core::{Encoded, EncodedBatch, EncoderConfig};

/// The default number of length buckets on a backend that computes on the host (`on_host`, 0: no plan) or on a
/// device (4). On the GPU backends every new tensor shape compiles and autotunes kernels (measured on an H200:
/// about a minute of the first steps of a fresh process, docs/performance.md), so a run plans four lengths and
/// a fixed batch size and runs each shape once before training; on the CPU a padded position is only wasted
/// work, so there is no plan and each batch is padded to its longest row.
pub const fn default_length_buckets(on_host: bool) -> usize {
    if on_host {
        0
    } else {
        4
    }
}

/// The default padding multiple of sequence lengths without a plan: 1 on the host, 32 on a device.
pub const fn default_pad_multiple(on_host: bool) -> usize {
    if on_host {
        1
    } else {
        32
    }
}

/// Bucket lengths are multiples of this (tensor-core tiles are 8 or 16 wide; 8 keeps padding small).
pub const LENGTH_STEP: usize = 8;

/// The shapes of a run: `rows` × one of `lengths`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapePlan {
    /// Rows of every batch.
    pub rows: usize,
    /// The bucket lengths, ascending; a batch takes the shortest that holds its longest example.
    pub lengths: Vec<usize>,
}

impl ShapePlan {
    /// A plan of at most `buckets` lengths for examples of the given `lengths`, in batches of `rows`, for a
    /// model whose other dimensions are `avoid` (see [`model_dimensions`]). No length exceeds `max_len` unless
    /// an example is longer.
    pub fn new(
        lengths: &[usize],
        rows: usize,
        buckets: usize,
        max_len: usize,
        avoid: &BTreeSet<usize>,
    ) -> ShapePlan {
        let longest = lengths.iter().copied().max().unwrap_or(1).max(1);
        let clashes = |n: usize| avoid.contains(&n) || avoid.contains(&(n * rows));
        // The top bucket holds the longest example: its length rounded up to the step (within `max_len`),
        // moved up past a clash where the model allows, kept as it is where nothing larger is allowed.
        let mut top = longest.div_ceil(LENGTH_STEP) * LENGTH_STEP;
        if top > max_len {
            top = longest.max(max_len.min(top));
        }
        let mut t = top;
        while clashes(t) && t + LENGTH_STEP <= max_len.max(longest) {
            t += LENGTH_STEP;
        }
        if !clashes(t) {
            top = t;
        }
        let candidates: Vec<usize> = (1..)
            .map(|k| k * LENGTH_STEP)
            .take_while(|&n| n < top)
            .filter(|&n| !clashes(n))
            .chain(std::iter::once(top))
            .collect();
        ShapePlan {
            rows,
            lengths: fewest_padded_tokens(lengths, &candidates, buckets.max(1)),
        }
    }

    /// The plan for a model: `lengths` of the examples it will see, batches of `rows`, at most `buckets`
    /// lengths up to `max_len`, avoiding the model's own dimensions and the row count.
    pub fn for_model(
        lengths: &[usize],
        rows: usize,
        buckets: usize,
        max_len: usize,
        config: &EncoderConfig,
        num_labels: usize,
    ) -> ShapePlan {
        let avoid = model_dimensions(config, num_labels, &[rows]);
        ShapePlan::new(lengths, rows, buckets, max_len, &avoid)
    }

    /// The padded length of a batch whose longest example has `longest` tokens.
    pub fn length_for(&self, longest: usize) -> usize {
        self.lengths
            .iter()
            .copied()
            .find(|&n| n >= longest)
            .unwrap_or(longest)
    }

    /// Every planned shape `[rows, length]`, shortest first.
    pub fn shapes(&self) -> Vec<[usize; 2]> {
        self.lengths.iter().map(|&n| [self.rows, n]).collect()
    }
}

/// The dimensions of a model that a bucket length must not equal: hidden and head sizes, heads, FFN width,
/// layers, vocabulary, positions, token types, labels, the batch sizes.
pub fn model_dimensions(
    config: &EncoderConfig,
    num_labels: usize,
    rows: &[usize],
) -> BTreeSet<usize> {
    let mut dims: BTreeSet<usize> = config.dimensions().into_iter().collect();
    dims.insert(num_labels);
    dims.extend(rows.iter().copied());
    dims
}

/// A partial solution of [`fewest_padded_tokens`].
#[derive(Debug, Clone, Copy)]
struct Step {
    tokens: u64,
    previous: Option<usize>,
}

/// The subset of at most `k` of the ascending `candidates` (always including the last) that minimises the
/// padded tokens of `lengths`, each padded to the smallest chosen length that holds it; buckets no example
/// would use are left out. An exact dynamic programme over the candidates (a few dozen at most).
fn fewest_padded_tokens(lengths: &[usize], candidates: &[usize], k: usize) -> Vec<usize> {
    let m = candidates.len();
    // count[j]: examples whose smallest holding candidate is j.
    let mut count = vec![0u64; m];
    for &len in lengths {
        let j = candidates.iter().position(|&c| c >= len).unwrap_or(m - 1);
        count[j] += 1;
    }
    // cost(i, j): tokens of the examples of candidates i+1..=j padded to candidates[j].
    let cost = |i: Option<usize>, j: usize| -> u64 {
        let from = i.map_or(0, |i| i + 1);
        count[from..=j].iter().sum::<u64>() * candidates[j] as u64
    };
    // best[b][j]: the fewest tokens with b + 1 buckets, the largest being candidate j, and the bucket before it.
    let mut best: Vec<Vec<Option<Step>>> = vec![vec![None; m]; k];
    best[0] = (0..m)
        .map(|j| {
            Some(Step {
                tokens: cost(None, j),
                previous: None,
            })
        })
        .collect();
    for b in 1..k {
        for j in 0..m {
            best[b][j] = (0..j)
                .filter_map(|i| {
                    best[b - 1][i].map(|s| Step {
                        tokens: s.tokens + cost(Some(i), j),
                        previous: Some(i),
                    })
                })
                .min_by_key(|s| s.tokens);
        }
    }
    // Fewest tokens ending at the last candidate; among equals, the fewest buckets.
    let last = m - 1;
    let chosen_b = (0..k)
        .filter_map(|b| best[b][last].map(|s| (s.tokens, b)))
        .min()
        .map_or(0, |(_, b)| b);
    let mut lengths_out = Vec::new();
    let (mut b, mut j) = (chosen_b, Some(last));
    while let Some(jj) = j {
        lengths_out.push(candidates[jj]);
        j = best[b][jj].and_then(|s| s.previous);
        b = b.saturating_sub(1);
    }
    lengths_out.reverse();
    // A bucket that holds no example would only cost a warm-up.
    let used: BTreeSet<usize> = lengths
        .iter()
        .map(|&len| {
            lengths_out
                .iter()
                .copied()
                .find(|&c| c >= len)
                .unwrap_or(candidates[last])
        })
        .collect();
    lengths_out.retain(|c| used.contains(c) || *c == candidates[last]);
    lengths_out
}

/// Which rows of a batch are real: weight 1 for the examples, 0 for filler rows, `[rows]`.
pub struct RowWeights<B: Backend>(pub Tensor<B, 1>);

impl<B: Backend> RowWeights<B> {
    /// `real` ones followed by `rows − real` zeros.
    pub fn new(real: usize, rows: usize, device: &B::Device) -> Self {
        let values: Vec<f32> = (0..rows).map(|i| f32::from(u8::from(i < real))).collect();
        RowWeights(Tensor::from_data(TensorData::new(values, [rows]), device))
    }
}

/// `examples` padded to `length` and filled up to `rows` with filler rows (one real token, the padding id, so
/// that no row is all padding). The filler rows come last.
pub fn planned_batch(
    examples: &[Encoded],
    pad_id: u32,
    rows: usize,
    length: usize,
) -> EncodedBatch {
    let mut batch = EncodedBatch::pad(examples, pad_id, length);
    let fillers = rows.saturating_sub(examples.len());
    for _ in 0..fillers {
        batch.input_ids.push(pad_id as i64);
        batch
            .input_ids
            .extend(std::iter::repeat_n(pad_id as i64, batch.seq_len - 1));
        batch
            .token_type_ids
            .extend(std::iter::repeat_n(0, batch.seq_len));
        batch.attention_mask.push(1);
        batch
            .attention_mask
            .extend(std::iter::repeat_n(0, batch.seq_len - 1));
    }
    batch.batch_size += fillers;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avoid(dims: &[usize]) -> BTreeSet<usize> {
        dims.iter().copied().collect()
    }

    #[test]
    fn buckets_minimise_padding_and_end_at_the_longest_example() {
        // Two clusters of lengths: short (~20) and long (~100).
        let lengths: Vec<usize> = (0..200)
            .map(|i| if i % 4 == 0 { 95 + i % 7 } else { 15 + i % 9 })
            .collect();
        let plan = ShapePlan::new(&lengths, 16, 2, 128, &avoid(&[]));
        assert_eq!(plan.lengths, vec![24, 104]);
        assert_eq!(plan.length_for(23), 24);
        assert_eq!(plan.length_for(25), 104);
        assert_eq!(plan.shapes(), vec![[16, 24], [16, 104]]);
        // One bucket: the longest, rounded up to the step.
        let one = ShapePlan::new(&lengths, 16, 1, 128, &avoid(&[]));
        assert_eq!(one.lengths, vec![104]);
    }

    #[test]
    fn lengths_never_equal_a_model_dimension_or_a_row_count() {
        let lengths: Vec<usize> = (1..=128).collect();
        // MiniLM: hidden 384, head size 32, 12 heads, FFN 1536; batch 32.
        let dims = avoid(&[384, 32, 12, 1536, 6, 7, 30522, 512, 2, 32]);
        let plan = ShapePlan::new(&lengths, 32, 6, 128, &dims);
        for &n in &plan.lengths {
            assert!(
                !dims.contains(&n) && !dims.contains(&(n * 32)),
                "{n} clashes"
            );
            assert_eq!(n % LENGTH_STEP, 0);
        }
        // 48 × 32 = 1536 (the FFN width) and 32 itself are excluded; 128 ends the plan.
        assert!(!plan.lengths.contains(&48) && !plan.lengths.contains(&32));
        assert_eq!(plan.lengths.last(), Some(&128));
        assert_eq!(plan.lengths.len(), 6);
    }

    #[test]
    fn a_clashing_longest_length_moves_up_when_the_model_allows() {
        let plan = ShapePlan::new(&[10, 30, 64], 8, 2, 128, &avoid(&[64]));
        assert_eq!(plan.lengths.last(), Some(&72));
        // Where nothing longer is allowed, the clash is kept rather than truncating.
        let capped = ShapePlan::new(&[10, 64], 8, 2, 64, &avoid(&[64]));
        assert_eq!(capped.lengths.last(), Some(&64));
    }

    #[test]
    fn unused_buckets_are_dropped() {
        let plan = ShapePlan::new(&[40, 40, 40], 4, 4, 128, &avoid(&[]));
        assert_eq!(plan.lengths, vec![40]);
    }

    #[test]
    fn filler_rows_come_last_with_one_real_token() {
        let e = Encoded {
            input_ids: vec![101, 7, 102],
            token_type_ids: vec![0, 0, 0],
        };
        let batch = planned_batch(&[e], 0, 3, 8);
        assert_eq!((batch.batch_size, batch.seq_len), (3, 8));
        assert_eq!(&batch.input_ids[..8], &[101, 7, 102, 0, 0, 0, 0, 0]);
        assert_eq!(&batch.attention_mask[8..16], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(batch.attention_mask[16..].iter().sum::<i64>(), 1);
        assert_eq!(batch.input_ids.len(), 24);
    }
}
