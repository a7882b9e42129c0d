//! Multi-head self-attention, `BertAttention` = `BertSelfAttention` + `BertSelfOutput`.
//!
//! The variants of sesame plug in at three seams of [`BertSelfAttention::forward`], so that no variant copies
//! the layer: a transform of the values before the head split, the normalisation of the logits
//! ([`ScoreNormalizer`]), and a transform of the context before the output projection.

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};

use crate::bert::dropout::{Dropout, DropoutStream};
use burn::tensor::{backend::Backend, Tensor};

use super::mask::AttentionMask;
use super::nn::{layer_norm, linear, linear_tokens};
use crate::bert::config::BertConfig;
use crate::error::Result;
use crate::fused::{attention_softmax, SesameBackend};
use crate::methods::localness::LocalnessBias;
use crate::methods::variant::{AttentionVariant, ScoreNormalizer};

/// Scaled dot-product attention over split heads: the one computation every variant shares.
///
/// `q`, `k`, `v`: `[B, H, n, d_h]`; `bias`: additive logit bias broadcastable to `[B, H, n, n]` (the padding
/// mask, plus any variant bias). Returns the context `[B, H, n, d_h]` and the attention weights
/// `[B, H, n, n]` before dropout.
pub fn scaled_dot_product<B: SesameBackend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    bias: Tensor<B, 4>,
    normalizer: &ScoreNormalizer,
    dropout: &Dropout,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let sqrt_d_h = (q.dims()[3] as f64).sqrt();
    let scores = q.matmul(k.swap_dims(2, 3));
    let probs = match normalizer {
        // Scale, bias and softmax as one fused operation (one pass each way on a backend with a kernel).
        ScoreNormalizer::Softmax => attention_softmax(scores, bias, sqrt_d_h),
        ScoreNormalizer::SparsegenLin { lambda } => {
            crate::methods::sparsegen::sparsegen_lin(scores / sqrt_d_h + bias, *lambda)
        }
    };
    let context = dropout.forward(probs.clone()).matmul(v);
    (context, probs)
}

/// `[B, n, d]` → `[B, H, n, d_h]`.
fn split_heads<B: Backend>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [b, n, d] = x.dims();
    x.reshape([b, n, heads, d / heads]).swap_dims(1, 2)
}

/// `[B, H, n, d_h]` → `[B, n, d]`.
fn merge_heads<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, h, n, d_h] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d_h])
}

/// Mirrors `transformers`' `BertSelfAttention` (keys `attention.self.{query,key,value}`).
#[derive(Module, Debug)]
pub struct BertSelfAttention<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub dropout: Dropout,
    /// Learned localness bias on the logits (keys `localness.*`), when the variant has one.
    pub localness: Option<LocalnessBias<B>>,
    pub num_attention_heads: usize,
    /// Which variant this layer runs; not a parameter.
    pub variant: AttentionVariant,
}

/// What one self-attention sub-layer returns.
pub struct SelfAttentionOutput<B: Backend> {
    /// Context after the (optional) context transform, heads merged: `[B, n, d]`.
    pub context: Tensor<B, 3>,
    /// Attention weights before dropout: `[B, H, n, n]`.
    pub probs: Tensor<B, 4>,
}

impl<B: SesameBackend> BertSelfAttention<B> {
    pub fn new(
        config: &BertConfig,
        variant: AttentionVariant,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let d = config.hidden_size;
        let std = config.initializer_range;
        BertSelfAttention {
            query: linear(d, d, std, device),
            key: linear(d, d, std, device),
            value: linear(d, d, std, device),
            dropout: Dropout::new(config.attention_probs_dropout_prob, stream),
            localness: variant
                .localness
                .as_ref()
                .map(|l| LocalnessBias::new(config.head_size(), l, std, device)),
            num_attention_heads: config.num_attention_heads,
            variant,
        }
    }

    /// `hidden`: `[B, n, d]` → context `[B, n, d]` and weights `[B, H, n, n]`.
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<SelfAttentionOutput<B>> {
        let h = self.num_attention_heads;
        let q = split_heads(linear_tokens(&self.query, hidden.clone()), h);
        let k = split_heads(linear_tokens(&self.key, hidden.clone()), h);
        // Seam 1: transform of V = X·W_V + b along the sequence, before the head split.
        let v = self
            .variant
            .transform_values(linear_tokens(&self.value, hidden), mask)?;
        let v = split_heads(v, h);
        // Seam 2: additive logit biases (padding, localness) and the normaliser (softmax, sparsegen-lin).
        let bias = match &self.localness {
            Some(localness) => localness.forward(q.clone(), mask) + mask.bias(),
            None => mask.bias(),
        };
        let (context, probs) =
            scaled_dot_product(q, k, v, bias, &self.variant.normalizer, &self.dropout);
        // Seam 3: transform of the merged context, before the output projection W_O.
        let context = self.variant.transform_context(merge_heads(context), mask)?;
        Ok(SelfAttentionOutput { context, probs })
    }
}

/// `transformers`' `BertSelfOutput` and `BertOutput`, which compute the same thing: dense → dropout → residual
/// → LayerNorm (keys `attention.output.*` with d → d, `output.*` with d_ff → d). One type, two names.
#[derive(Module, Debug)]
pub struct DenseResidualNorm<B: Backend> {
    pub dense: Linear<B>,
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

/// `attention.output`: d → d.
pub type BertSelfOutput<B> = DenseResidualNorm<B>;

impl<B: SesameBackend> DenseResidualNorm<B> {
    /// `d_in` → `config.hidden_size`, initialised as `transformers` does.
    pub fn new(
        config: &BertConfig,
        d_in: usize,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let d = config.hidden_size;
        DenseResidualNorm {
            dense: linear(d_in, d, config.initializer_range, device),
            layer_norm: layer_norm(d, config.layer_norm_eps, device),
            dropout: Dropout::new(config.hidden_dropout_prob, stream),
        }
    }

    /// `x`: `[B, n, d_in]`, `residual`: `[B, n, d]` → `[B, n, d]`.
    pub fn forward(&self, x: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self.dropout.forward(linear_tokens(&self.dense, x));
        self.layer_norm.forward(x + residual)
    }
}

/// Mirrors `BertAttention` (keys `attention.self.*`, `attention.output.*`).
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// `self` in Hugging Face's tree.
    pub self_attention: BertSelfAttention<B>,
    pub output: BertSelfOutput<B>,
}

impl<B: SesameBackend> BertAttention<B> {
    pub fn new(
        config: &BertConfig,
        variant: AttentionVariant,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        BertAttention {
            self_attention: BertSelfAttention::new(config, variant, stream, device),
            output: BertSelfOutput::new(config, config.hidden_size, stream, device),
        }
    }

    /// `[B, n, d]` → (`[B, n, d]`, weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let out = self.self_attention.forward(hidden.clone(), mask)?;
        Ok((self.output.forward(out.context, hidden), out.probs))
    }
}
