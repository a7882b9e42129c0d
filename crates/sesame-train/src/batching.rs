//! Tokenisation once per dataset, seeded shuffling, optional length bucketing, and padding: dynamic (each batch
//! to its longest example) or to a shape plan's shapes ([`crate::shapes`]).

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use sesame_core::{BertTokenizer, Encoded, EncodedBatch, Targets};

use crate::error::TrainError;
use crate::shapes::{planned_batch, ShapePlan};
use crate::tasks::{Dataset, Label};
use sesame_core::rng::SplitMix64;

/// How batches are padded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Padding {
    /// Each batch to its longest example rounded up to a multiple of `multiple` (the CPU backends: 1).
    Longest { multiple: usize },
    /// Each batch to the plan's rows and the shortest planned length that holds it (the GPU backends).
    Plan(ShapePlan),
}

impl Padding {
    /// The rows of every batch under a plan; `None` for dynamic padding.
    pub fn rows(&self) -> Option<usize> {
        match self {
            Padding::Longest { .. } => None,
            Padding::Plan(plan) => Some(plan.rows),
        }
    }
}

/// A dataset turned into token ids, kept in memory for every epoch.
#[derive(Debug, Clone)]
pub struct TokenizedSet {
    pub encodings: Vec<Encoded>,
    pub labels: Vec<Option<Label>>,
}

impl TokenizedSet {
    /// Tokenises every example (pairs as `[CLS] a [SEP] b [SEP]`); an encoding failure names file and line.
    pub fn new(dataset: &Dataset, tokenizer: &BertTokenizer) -> Result<Self, TrainError> {
        let mut encodings = Vec::with_capacity(dataset.examples.len());
        for e in &dataset.examples {
            let enc = tokenizer
                .encode(&e.text_a, e.text_b.as_deref())
                .map_err(|err| TrainError::run(&dataset.path, format!("line {}: {err}", e.line)))?;
            encodings.push(enc);
        }
        Ok(TokenizedSet {
            encodings,
            labels: dataset.examples.iter().map(|e| e.label).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.encodings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.encodings.is_empty()
    }

    /// The examples at `indices` padded as `padding` says: to their longest rounded up to a multiple (so that
    /// GPU kernels see few distinct lengths), or to a planned shape with filler rows after them.
    pub fn batch(&self, indices: &[usize], pad_id: u32, padding: &Padding) -> EncodedBatch {
        let chosen: Vec<Encoded> = indices.iter().map(|&i| self.encodings[i].clone()).collect();
        let longest = chosen.iter().map(Encoded::len).max().unwrap_or(0);
        match padding {
            Padding::Longest { multiple } => {
                let m = (*multiple).max(1);
                EncodedBatch::pad(&chosen, pad_id, longest.div_ceil(m) * m)
            }
            Padding::Plan(plan) => {
                planned_batch(&chosen, pad_id, plan.rows, plan.length_for(longest))
            }
        }
    }

    /// Targets of `indices` on the device: classes or values, followed by `rows − indices.len()` zeros for the
    /// filler rows of a planned batch (`rows` at most `indices.len()`: none). Errors if an example is
    /// unlabelled.
    pub fn targets<B: Backend>(
        &self,
        indices: &[usize],
        rows: usize,
        device: &B::Device,
    ) -> Result<Targets<B>, TrainError> {
        let mut labels: Vec<Label> = indices
            .iter()
            .map(|&i| self.labels[i].ok_or(TrainError::Unlabelled { split: "training" }))
            .collect::<Result<_, _>>()?;
        if let Some(&first) = labels.first() {
            let filler = match first {
                Label::Class(_) => Label::Class(0),
                Label::Value(_) => Label::Value(0.0),
            };
            labels.resize(rows.max(labels.len()), filler);
        }
        let n = labels.len();
        match labels.first() {
            Some(Label::Value(_)) => {
                let values: Vec<f32> = labels
                    .iter()
                    .map(|l| match l {
                        Label::Value(v) => *v,
                        Label::Class(c) => *c as f32,
                    })
                    .collect();
                Ok(Targets::Values(Tensor::from_data(
                    TensorData::new(values, [n]),
                    device,
                )))
            }
            _ => {
                let classes: Vec<i64> = labels
                    .iter()
                    .map(|l| match l {
                        Label::Class(c) => *c as i64,
                        Label::Value(v) => *v as i64,
                    })
                    .collect();
                Ok(Targets::Classes(Tensor::<B, 1, Int>::from_data(
                    TensorData::new(classes, [n]),
                    device,
                )))
            }
        }
    }
}

/// Assembles the batches `order` (copying and padding ids) on a helper thread of `scope`, at most two ahead of
/// the training loop, so that a GPU backend is not kept waiting by the host between steps. The thread ends after
/// the last batch, or as soon as the receiver is dropped (a loop that stops early).
pub fn prefetch_batches<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    set: &'env TokenizedSet,
    order: &'env [Vec<usize>],
    pad_id: u32,
    padding: &'env Padding,
) -> std::sync::mpsc::Receiver<EncodedBatch> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(2);
    scope.spawn(move || {
        for indices in order {
            if sender.send(set.batch(indices, pad_id, padding)).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A labelled set from encodings made elsewhere (another tokenizer, a test's fixed ids).
impl FromIterator<(Encoded, Label)> for TokenizedSet {
    fn from_iter<I: IntoIterator<Item = (Encoded, Label)>>(pairs: I) -> Self {
        let (encodings, labels) = pairs.into_iter().map(|(e, l)| (e, Some(l))).unzip();
        TokenizedSet { encodings, labels }
    }
}

/// The batches of one epoch as lists of example indices.
///
/// With `rng`, the order is shuffled; with `bucket`, examples are first grouped into pools of 50 batches, each
/// pool sorted by length and cut into batches (less padding), and the batches shuffled again.
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    rng: Option<&mut SplitMix64>,
    bucket: bool,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    let Some(rng) = rng else {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    };
    rng.shuffle(&mut order);
    if !bucket {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    }
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for pool in order.chunks(batch_size * 50) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| lengths[i]);
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_cover_every_example_once() {
        let lengths: Vec<usize> = (0..103).map(|i| (i * 37) % 50 + 3).collect();
        for bucket in [false, true] {
            let mut rng = SplitMix64::derive(1, 0);
            let batches = epoch_batches(&lengths, 8, Some(&mut rng), bucket);
            let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
            all.sort();
            assert_eq!(all, (0..103).collect::<Vec<_>>());
            assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 8));
        }
        let plain = epoch_batches(&lengths, 10, None, false);
        assert_eq!(plain[0], (0..10).collect::<Vec<_>>());
    }

    /// `--bucket-by-length`: within a pool of 50 batches, batches hold neighbouring lengths (their ranges do not
    /// interleave), so padding drops; across pools and epochs the order stays random.
    #[test]
    fn buckets_group_neighbouring_lengths() {
        let lengths: Vec<usize> = (0..400).map(|i| (i * 37) % 120 + 3).collect();
        let padding = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| {
                    let longest = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
                    b.iter().map(|&i| longest - lengths[i]).sum::<usize>()
                })
                .sum()
        };
        let mut rng = SplitMix64::derive(3, 0);
        let bucketed = epoch_batches(&lengths, 8, Some(&mut rng), true);
        let mut rng = SplitMix64::derive(3, 0);
        let shuffled = epoch_batches(&lengths, 8, Some(&mut rng), false);
        // One pool (400 examples = 50 batches of 8): every pair of batches is ordered by length.
        for a in &bucketed {
            for b in &bucketed {
                let range = |x: &Vec<usize>| {
                    let l: Vec<usize> = x.iter().map(|&i| lengths[i]).collect();
                    (*l.iter().min().unwrap_or(&0), *l.iter().max().unwrap_or(&0))
                };
                let ((a_lo, a_hi), (b_lo, b_hi)) = (range(a), range(b));
                assert!(
                    a == b || a_hi <= b_lo || b_hi <= a_lo,
                    "{a:?} and {b:?} interleave"
                );
            }
        }
        assert!(
            padding(&bucketed) * 10 < padding(&shuffled),
            "padding {} bucketed vs {} shuffled",
            padding(&bucketed),
            padding(&shuffled)
        );
        // The batches themselves come in random order, not sorted by length.
        let firsts: Vec<usize> = bucketed.iter().map(|b| lengths[b[0]]).collect();
        assert!(
            firsts.windows(2).any(|w| w[0] > w[1]),
            "batches sorted by length: {firsts:?}"
        );
    }
}
