//! Multi-head self-attention, `BertAttention` = `BertSelfAttention` + `BertSelfOutput`.
//!
//! The variants of sesame plug in at three seams of [`BertSelfAttention::forward`], so that no variant copies
//! the layer: a transform of the values before the head split, the normalisation of the logits
//! ([`ScoreNormalizer`]), and a transform of the context before the output projection.

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};

use crate::bert::dropout::{Dropout, DropoutStream};
use burn::tensor::{backend::Backend, Tensor};

use crate::bert::config::BertConfig;
use crate::error::Result;
use crate::fused::composed::split_heads;
use crate::fused::{
    attention_context, attention_scores, attention_softmax, residual_layer_norm, SesameBackend,
};
use crate::methods::localness::LocalnessBias;
use crate::methods::variant::{AttentionVariant, ScoreNormalizer};
use crate::nn::mask::AttentionMask;
use crate::nn::origin::{all_params_as, ParamOrigin};
use crate::nn::{layer_norm, linear, linear_tokens};
use burn::module::ParamId;

/// Scaled dot-product attention over the heads: the one computation every variant shares.
///
/// `q`: `[B, n, d]`, `k`, `v`: `[B, m, d]` with the `heads` heads side by side (`d = H·d_h`); `bias`: additive
/// logit bias broadcastable to `[B, H, n, m]` (the padding mask, plus any variant bias). Returns the context
/// `[B, n, d]` (heads merged) and the attention weights `[B, H, n, m]` before dropout. The two products read and
/// write the heads where they lie (`fused::attention_scores`, `fused::attention_context`).
pub fn scaled_dot_product<B: SesameBackend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    bias: Tensor<B, 4>,
    heads: usize,
    normalizer: &ScoreNormalizer,
    dropout: &Dropout,
) -> (Tensor<B, 3>, Tensor<B, 4>) {
    let sqrt_d_h = ((q.dims()[2] / heads) as f64).sqrt();
    let scores = attention_scores(q, k, heads);
    let probs = match normalizer {
        // Scale, bias and softmax as one fused operation (one pass each way on a backend with a kernel).
        ScoreNormalizer::Softmax => attention_softmax(scores, bias, sqrt_d_h),
        ScoreNormalizer::SparsegenLin { lambda } => {
            crate::methods::sparsegen::sparsegen_lin(scores / sqrt_d_h + bias, *lambda)
        }
    };
    let context = attention_context(dropout.forward(probs.clone()), v);
    (context, probs)
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

    /// This sub-layer's fresh parameters: the localness network's, a variant's own.
    pub fn fresh_params(&self) -> impl Iterator<Item = (ParamId, ParamOrigin)> + '_ {
        self.localness
            .iter()
            .flat_map(|l| all_params_as(l, ParamOrigin::Variant))
    }

    /// `hidden`: `[B, n, d]` → context `[B, n, d]` and weights `[B, H, n, n]`.
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<SelfAttentionOutput<B>> {
        let h = self.num_attention_heads;
        let q = linear_tokens(&self.query, hidden.clone());
        let k = linear_tokens(&self.key, hidden.clone());
        // Seam 1: transform of V = X·W_V + b along the sequence, before the heads are taken apart.
        let v = self
            .variant
            .transform_values(linear_tokens(&self.value, hidden), mask)?;
        // Seam 2: additive logit biases (padding, localness) and the normaliser (softmax, sparsegen-lin).
        let bias = match &self.localness {
            Some(localness) => localness.forward(split_heads(q.clone(), h), mask) + mask.bias(),
            None => mask.bias(),
        };
        let (context, probs) =
            scaled_dot_product(q, k, v, bias, h, &self.variant.normalizer, &self.dropout);
        // Seam 3: transform of the merged context, before the output projection W_O.
        let context = self.variant.transform_context(context, mask)?;
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
    /// `layer_norm`'s ε (`config.layer_norm_eps`), for the fused residual + LayerNorm: burn's `LayerNorm` keeps
    /// its ε private. Not a parameter.
    pub layer_norm_eps: f64,
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
            layer_norm_eps: config.layer_norm_eps,
        }
    }

    /// `x`: `[B, n, d_in]`, `residual`: `[B, n, d]` → `[B, n, d]`.
    pub fn forward(&self, x: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self.dropout.forward(linear_tokens(&self.dense, x));
        residual_layer_norm(x, residual, &self.layer_norm, self.layer_norm_eps)
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
