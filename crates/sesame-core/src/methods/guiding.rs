//! Attention guiding (Wang et al. 2022, methods.md §3): the MDG and PDG auxiliary losses computed from the
//! attention weights of every layer and head.

use burn::tensor::activation::log_softmax;
use burn::tensor::{backend::Backend, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::nn::AttentionMask;

/// Which axis of each `[n, n]` attention map is averaged to form a head's pattern vector `[n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternReduce {
    /// Mean over queries: the attention each key position receives (sesame's default; see docs/methods.md).
    #[default]
    Queries,
    /// Mean over keys, as the reference code (`mean(-1)`): constant 1/n before dropout.
    Keys,
}

/// Settings of the attention-guiding losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuidingConfig {
    /// λ_MDG (reference 0.001); 0 disables MDG.
    pub mdg_weight: f64,
    /// λ_PDG (reference 0.001); 0 disables PDG.
    pub pdg_weight: f64,
    /// MDG temperature τ (reference 2.0).
    pub tau: f64,
    pub pattern_reduce: PatternReduce,
    /// Exclude padding: average over real queries only and leave padded positions out of PDG.
    /// `false` reproduces the reference, where each pad position adds a constant to PDG.
    pub mask_padding: bool,
}

impl Default for GuidingConfig {
    fn default() -> Self {
        GuidingConfig {
            mdg_weight: 0.001,
            pdg_weight: 0.001,
            tau: 2.0,
            pattern_reduce: PatternReduce::default(),
            mask_padding: true,
        }
    }
}

/// The two losses of one batch (scalars, shape `[1]`).
pub struct GuidingLosses<B: Backend> {
    pub mdg: Tensor<B, 1>,
    pub pdg: Tensor<B, 1>,
}

impl<B: Backend> GuidingLosses<B> {
    /// `λ_MDG·L_MDG + λ_PDG·L_PDG`.
    pub fn weighted(&self, config: &GuidingConfig) -> Tensor<B, 1> {
        self.mdg.clone() * config.mdg_weight + self.pdg.clone() * config.pdg_weight
    }
}

/// Stacks every layer's and head's attention map into pattern vectors `P` `[B, N = L·H, n]`.
pub fn attention_patterns<B: Backend>(
    attentions: &[Tensor<B, 4>],
    mask: Option<&AttentionMask<B>>,
    reduce: PatternReduce,
) -> Tensor<B, 3> {
    let per_layer: Vec<Tensor<B, 3>> = attentions
        .iter()
        .map(|a| {
            let [b, h, n, _] = a.dims();
            match (reduce, mask) {
                (PatternReduce::Keys, _) => a.clone().mean_dim(3).reshape([b, h, n]),
                (PatternReduce::Queries, None) => a.clone().mean_dim(2).reshape([b, h, n]),
                (PatternReduce::Queries, Some(m)) => {
                    let q = m.mask().reshape([b, 1, n, 1]);
                    let count = m.mask().sum_dim(1).reshape([b, 1, 1]);
                    (a.clone() * q).sum_dim(2).reshape([b, h, n]) / count
                }
            }
        })
        .collect();
    Tensor::cat(per_layer, 1)
}

/// Row-wise L2 normalisation along the last axis (`F.normalize(p=2, dim=-1)`, eps 1e-12).
fn l2_normalize<B: Backend>(p: Tensor<B, 3>) -> Tensor<B, 3> {
    let norm = p.clone().powi_scalar(2).sum_dim(2).sqrt().clamp_min(1e-12);
    p / norm
}

/// MDG: InfoNCE over heads. `C = P̂ P̂ᵀ / τ`, loss = mean over examples and heads of `−log softmax(C)_ii`.
pub fn mdg_loss<B: Backend>(patterns: Tensor<B, 3>, tau: f64) -> Tensor<B, 1> {
    let [b, heads, _] = patterns.dims();
    let p = l2_normalize(patterns);
    let c = p.clone().matmul(p.swap_dims(1, 2)) / tau; // [B, N, N]
    let log_probs = log_softmax(c, 2);
    let device = log_probs.device();
    let diag = Tensor::<B, 1, Int>::arange(0..heads as i64, &device)
        .reshape([1, heads, 1])
        .repeat_dim(0, b);
    log_probs.gather(2, diag).mean().neg().reshape([1])
}

/// PDG: `Σ_{t,s} (M_ts − δ_ts)² / n` averaged over examples, `M = P̂ᵀ P̂` `[B, n, n]`. With a mask, padded
/// positions are left out and each example is divided by its true length.
pub fn pdg_loss<B: Backend>(
    patterns: Tensor<B, 3>,
    mask: Option<&AttentionMask<B>>,
) -> Tensor<B, 1> {
    let [b, _, n] = patterns.dims();
    let p = l2_normalize(patterns);
    let m = p.clone().swap_dims(1, 2).matmul(p); // [B, n, n]
    let device = m.device();
    let eye = Tensor::<B, 2>::eye(n, &device).unsqueeze::<3>();
    let sq = (m - eye).powi_scalar(2);
    match mask {
        None => sq.sum_dim(2).mean().reshape([1]),
        Some(mask) => {
            let real = mask.mask(); // [B, n]
            let pair = real.clone().reshape([b, n, 1]) * real.clone().reshape([b, 1, n]);
            let per_example = (sq * pair).reshape([b, n * n]).sum_dim(1); // [B, 1]
            (per_example / real.sum_dim(1)).mean().reshape([1])
        }
    }
}

/// What the guiding losses of a batch are computed from: the pattern vectors of every layer and head, and the
/// padding mask when padding is left out. The losses are reduced over the batch only when asked
/// ([`GuidingTerms::losses`]), so that rows of a batch that are not examples (a shape plan's filler rows) can be
/// left out of the mean.
pub struct GuidingTerms<B: Backend> {
    patterns: Tensor<B, 3>,
    mask: Option<AttentionMask<B>>,
    tau: f64,
}

/// The guiding terms of a model's attention weights.
pub fn guiding_terms<B: Backend>(
    attentions: &[Tensor<B, 4>],
    mask: &AttentionMask<B>,
    config: &GuidingConfig,
) -> GuidingTerms<B> {
    let mask = config.mask_padding.then_some(mask);
    GuidingTerms {
        patterns: attention_patterns(attentions, mask, config.pattern_reduce),
        mask: mask.cloned(),
        tau: config.tau,
    }
}

impl<B: Backend> GuidingTerms<B> {
    /// Both losses, averaged over the examples; with `rows` (`[B]`, 1 for an example and 0 for a filler row)
    /// over the rows of weight 1 only.
    pub fn losses(&self, rows: Option<&Tensor<B, 1>>) -> GuidingLosses<B> {
        let Some(rows) = rows else {
            return GuidingLosses {
                mdg: mdg_loss(self.patterns.clone(), self.tau),
                pdg: pdg_loss(self.patterns.clone(), self.mask.as_ref()),
            };
        };
        let weighted_mean =
            |per_example: Tensor<B, 1>| (per_example * rows.clone()).sum() / rows.clone().sum();
        GuidingLosses {
            mdg: weighted_mean(mdg_per_example(self.patterns.clone(), self.tau)),
            pdg: weighted_mean(pdg_per_example(self.patterns.clone(), self.mask.as_ref())),
        }
    }
}

/// [`mdg_loss`] of each example, `[B]` (its mean over heads).
fn mdg_per_example<B: Backend>(patterns: Tensor<B, 3>, tau: f64) -> Tensor<B, 1> {
    let [b, heads, _] = patterns.dims();
    let p = l2_normalize(patterns);
    let c = p.clone().matmul(p.swap_dims(1, 2)) / tau;
    let log_probs = log_softmax(c, 2);
    let device = log_probs.device();
    let diag = Tensor::<B, 1, Int>::arange(0..heads as i64, &device)
        .reshape([1, heads, 1])
        .repeat_dim(0, b);
    log_probs
        .gather(2, diag)
        .reshape([b, heads])
        .mean_dim(1)
        .reshape([b])
        .neg()
}

/// [`pdg_loss`] of each example, `[B]`.
fn pdg_per_example<B: Backend>(
    patterns: Tensor<B, 3>,
    mask: Option<&AttentionMask<B>>,
) -> Tensor<B, 1> {
    let [b, _, n] = patterns.dims();
    let p = l2_normalize(patterns);
    let m = p.clone().swap_dims(1, 2).matmul(p);
    let eye = Tensor::<B, 2>::eye(n, &m.device()).unsqueeze::<3>();
    let sq = (m - eye).powi_scalar(2);
    match mask {
        None => sq.sum_dim(2).reshape([b, n]).mean_dim(1).reshape([b]),
        Some(mask) => {
            let real = mask.mask();
            let pair = real.clone().reshape([b, n, 1]) * real.clone().reshape([b, 1, n]);
            let per_example = (sq * pair).reshape([b, n * n]).sum_dim(1);
            (per_example / real.sum_dim(1)).reshape([b])
        }
    }
}
