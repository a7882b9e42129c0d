//! DeBERTa's disentangled self-attention (He et al., 2021) as `transformers`' `DisentangledSelfAttention`
//! computes it: content-to-content scores plus, with relative attention, content-to-position (c2p: queries
//! against projected relative embeddings) and position-to-content (p2c: projected relative embeddings against
//! keys) scores, all scaled by `sqrt(d_h · (1 + number of relative terms))` (keys `attention.self.*`).
//!
//! Every sesame variant plugs in at BERT's seams: the values before the heads split, the logits (the relative
//! terms are part of the bias the normaliser sees, as a localness bias is) and the normaliser, the context
//! before `attention.output`.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor};

use super::config::{DebertaV2Config, PositionTerms};
use super::relative::RelativeIndex;
use crate::bert::attention::{scaled_dot_product, DenseResidualNorm};
use crate::bert::dropout::{Dropout, DropoutStream};
use crate::error::Result;
use crate::fused::composed::split_heads;
use crate::fused::relative_gather;
use crate::fused::SesameBackend;
use crate::methods::localness::LocalnessBias;
use crate::methods::variant::AttentionVariant;
use crate::nn::mask::{AttentionMask, MASK_BIAS};
use crate::nn::{layer_norm, linear, linear_tokens};

/// What every layer's attention shares in a forward pass.
pub struct AttentionContext<'a, B: Backend> {
    /// `[B, 1, n, n]`: 0 where query and key are both real tokens, [`crate::nn::mask::MASK_BIAS`] elsewhere.
    /// A padded query thus sees equal logits everywhere, and attends uniformly, as `transformers`' masked
    /// fill of its whole row makes it.
    pub pair_bias: &'a Tensor<B, 4>,
    /// `[B, 1, n, 1]`: 1 at real queries, 0 at padded ones (whose scores are zeroed, see `pair_bias`).
    pub query_mask: &'a Tensor<B, 4>,
    /// The relative embeddings `[2k, d]` (after `encoder.LayerNorm` when configured) and their gather indices,
    /// with relative attention.
    pub relative: Option<(&'a Tensor<B, 2>, &'a RelativeIndex<B>)>,
    pub mask: &'a AttentionMask<B>,
}

/// The padding in the two forms disentangled attention takes it: the query mask `[B, 1, n, 1]` and the pair
/// bias `[B, 1, n, n]` of [`AttentionContext`].
pub fn query_and_pair_masks<B: Backend>(mask: &AttentionMask<B>) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let m = mask.mask();
    let [b, n] = m.dims();
    let query_mask = m.clone().reshape([b, 1, n, 1]);
    let pair_bias = (query_mask.clone() * m.reshape([b, 1, 1, n]))
        .neg()
        .add_scalar(1.0)
        .mul_scalar(MASK_BIAS);
    (query_mask, pair_bias)
}

/// Mirrors `DisentangledSelfAttention`.
#[derive(Module, Debug)]
pub struct DisentangledSelfAttention<B: Backend> {
    pub query_proj: Linear<B>,
    pub key_proj: Linear<B>,
    pub value_proj: Linear<B>,
    /// The relative-position projections of their own, without `share_att_key` (c2p: keys, p2c: queries).
    pub pos_key_proj: Option<Linear<B>>,
    pub pos_query_proj: Option<Linear<B>>,
    /// On the attention weights.
    pub dropout: Dropout,
    /// On the relative embeddings (`hidden_dropout_prob`).
    pub pos_dropout: Dropout,
    pub localness: Option<LocalnessBias<B>>,
    pub num_attention_heads: usize,
    pub variant: AttentionVariant,
    #[module(skip)]
    terms: PositionTerms,
}

/// Mirrors `DebertaV2Attention` (keys `attention.self.*`, `attention.output.*`).
#[derive(Module, Debug)]
pub struct DebertaV2Attention<B: Backend> {
    /// `self` in Hugging Face's tree.
    pub self_attention: DisentangledSelfAttention<B>,
    pub output: DenseResidualNorm<B>,
}

/// `d_in → hidden_size`, dropout, residual, LayerNorm: `DebertaV2SelfOutput` and `DebertaV2Output`.
pub fn dense_residual_norm<B: SesameBackend>(
    config: &DebertaV2Config,
    d_in: usize,
    stream: &DropoutStream,
    device: &B::Device,
) -> DenseResidualNorm<B> {
    let d = config.hidden_size;
    DenseResidualNorm {
        dense: linear(d_in, d, config.initializer_range, device),
        layer_norm: layer_norm(d, config.layer_norm_eps, device),
        dropout: Dropout::new(config.hidden_dropout_prob, stream),
        layer_norm_eps: config.layer_norm_eps,
    }
}

impl<B: SesameBackend> DebertaV2Attention<B> {
    pub fn new(
        config: &DebertaV2Config,
        variant: AttentionVariant,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let (d, std) = (config.hidden_size, config.initializer_range);
        let terms = config.pos_att_type;
        let own = config.relative_attention && !config.share_att_key;
        DebertaV2Attention {
            self_attention: DisentangledSelfAttention {
                query_proj: linear(d, d, std, device),
                key_proj: linear(d, d, std, device),
                value_proj: linear(d, d, std, device),
                pos_key_proj: (own && terms.c2p).then(|| linear(d, d, std, device)),
                pos_query_proj: (own && terms.p2c).then(|| linear(d, d, std, device)),
                dropout: Dropout::new(config.attention_probs_dropout_prob, stream),
                pos_dropout: Dropout::new(config.hidden_dropout_prob, stream),
                localness: variant
                    .localness
                    .as_ref()
                    .map(|l| LocalnessBias::new(config.head_size(), l, std, device)),
                num_attention_heads: config.num_attention_heads,
                variant,
                terms,
            },
            output: dense_residual_norm(config, d, stream, device),
        }
    }

    /// `[B, n, d]` → (`[B, n, d]`, attention weights `[B, H, n, n]` before dropout).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        cx: &AttentionContext<'_, B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let (context, probs) = self.self_attention.forward(hidden.clone(), cx)?;
        Ok((self.output.forward(context, hidden), probs))
    }
}

impl<B: SesameBackend> DisentangledSelfAttention<B> {
    /// `[B, n, d]` → (context `[B, n, d]` after the context seam, weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        cx: &AttentionContext<'_, B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let h = self.num_attention_heads;
        let [b, n, d] = hidden.dims();
        // `transformers` counts the terms of `pos_att_type` in the scale whether or not relative attention is on.
        let factor = self.terms.scale_factor() as f64;
        let scale = ((d / h) as f64 * factor).sqrt();
        let q = linear_tokens(&self.query_proj, hidden.clone());
        let k = linear_tokens(&self.key_proj, hidden.clone());
        // Seam 1: the values, before the heads are taken apart.
        let v = self
            .variant
            .transform_values(linear_tokens(&self.value_proj, hidden), cx.mask)?;
        // Padded queries score 0 against every key (then `pair_bias` makes their row uniform).
        let q = q * cx.query_mask.clone().reshape([b, n, 1]);
        let mut bias = cx.pair_bias.clone();
        if let Some((rel, index)) = cx.relative {
            let rel = self.pos_dropout.forward(rel.clone());
            // The scale joins the query mask (`[B, 1, n, 1]`): one pass over the scores, not two.
            let factor = cx.query_mask.clone().div_scalar(scale);
            bias = bias + self.relative_scores(&q, &k, rel, index) * factor;
        }
        // Seam 2: a localness bias from the queries, the normaliser.
        if let Some(localness) = &self.localness {
            bias = bias + localness.forward(split_heads(q.clone(), h), cx.mask);
        }
        // `scaled_dot_product` divides by sqrt(d_h); the queries carry the rest of the scale.
        let q = q.div_scalar(factor.sqrt());
        let (context, probs) =
            scaled_dot_product(q, k, v, bias, h, &self.variant.normalizer, &self.dropout);
        // Seam 3: the merged context, before `attention.output`.
        let context = self.variant.transform_context(context, cx.mask)?;
        Ok((context, probs))
    }

    /// c2p + p2c, unscaled, `[B, H, n, n]`, from the (padding-zeroed) queries, the keys `[B, n, d]` and the
    /// relative embeddings `[2k, d]`.
    fn relative_scores(
        &self,
        q: &Tensor<B, 3>,
        k: &Tensor<B, 3>,
        rel: Tensor<B, 2>,
        index: &RelativeIndex<B>,
    ) -> Tensor<B, 4> {
        let h = self.num_attention_heads;
        let [b, _, _] = q.dims();
        let [_, d] = rel.dims();
        let rows = index.read.len();
        let rel = rel.slice(index.read.clone()).reshape([1, rows, d]);
        // `[1, R, d]` → `[B, H, d_h, R]`: each head's relative keys or queries, transposed for the product.
        let project = |proj: &Linear<B>| {
            split_heads(linear_tokens(proj, rel.clone()), h)
                .swap_dims(2, 3)
                .expand([b, h, d / h, rows])
        };
        let mut scores: Option<Tensor<B, 4>> = None;
        let mut add = |term: Tensor<B, 4>| {
            scores = Some(match scores.take() {
                Some(s) => s + term,
                None => term,
            });
        };
        if self.terms.c2p {
            let pos_key = project(self.pos_key_proj.as_ref().unwrap_or(&self.key_proj));
            // (query i, row r) read at r = index(i, j).
            let by_query = split_heads(q.clone(), h).matmul(pos_key);
            add(relative_gather(by_query, &index.rows, false));
        }
        if self.terms.p2c {
            let pos_query = project(self.pos_query_proj.as_ref().unwrap_or(&self.query_proj));
            // (key j, row r) read at r = index(i, j): the transposed gather.
            let by_key = split_heads(k.clone(), h).matmul(pos_query);
            add(relative_gather(by_key, &index.rows, true));
        }
        let [_, n, _] = q.dims();
        scores.unwrap_or_else(|| Tensor::zeros([b, h, n, n], &q.device()))
    }
}
