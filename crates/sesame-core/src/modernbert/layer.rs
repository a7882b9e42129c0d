//! One ModernBERT layer, pre-norm: `h + attn(attn_norm(h))`, then `+ mlp(mlp_norm(·))` (keys
//! `layers.N.{attn_norm,attn,mlp_norm,mlp}.*`; layer 0 has no `attn_norm`).

use burn::module::{Module, ParamId};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{relu, silu};
use burn::tensor::{backend::Backend, Tensor};

use super::config::{Activation, ModernBertConfig};
use crate::bert::attention::scaled_dot_product;
use crate::bert::dropout::{Dropout, DropoutStream};
use crate::error::Result;
use crate::fused::composed::split_heads;
use crate::fused::{geglu, gelu, layer_norm, rope, SesameBackend};
use crate::methods::localness::LocalnessBias;
use crate::methods::variant::AttentionVariant;
use crate::nn::mask::AttentionMask;
use crate::nn::origin::{all_params_as, ParamOrigin};
use crate::nn::{linear_tokens, linear_with};

/// `nn.LayerNorm(d, eps, bias=norm_bias)`, γ = 1 (and β = 0).
pub fn norm<B: Backend>(config: &ModernBertConfig, device: &B::Device) -> LayerNorm<B> {
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.norm_eps)
        .with_bias(config.norm_bias)
        .init(device)
}

/// An activation of the config, on any tensor.
pub fn activate<B: SesameBackend, const D: usize>(
    kind: Activation,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    match kind {
        Activation::Gelu => gelu(x),
        Activation::Relu => relu(x),
        Activation::Silu => silu(x),
        Activation::Tanh => x.tanh(),
    }
}

/// GeGLU's gate: `act(x_in) ⊙ x_gate` of `x` = [x_in | x_gate] `[B, n, 2·d_ff]` → `[B, n, d_ff]`; with GELU
/// (the checkpoints' activation) one fused operation.
pub fn gated<B: SesameBackend>(x: Tensor<B, 3>, act: Activation) -> Tensor<B, 3> {
    if act == Activation::Gelu {
        return geglu(x);
    }
    let d_ff = x.dims()[2] / 2;
    let input = x.clone().narrow(2, 0, d_ff);
    activate(act, input) * x.narrow(2, d_ff, d_ff)
}

/// Mirrors `ModernBertAttention`: the fused projection `Wqkv` (d → 3d: queries, keys, values), RoPE on queries
/// and keys, scaled dot-product attention with the layer's mask (sliding window or full), `Wo` and dropout. The
/// variant seams are BERT's: values before the heads split, the normaliser, the context before `Wo`.
#[derive(Module, Debug)]
pub struct ModernBertAttention<B: Backend> {
    /// `Wqkv` in the checkpoint.
    pub wqkv: Linear<B>,
    /// `Wo` in the checkpoint.
    pub wo: Linear<B>,
    /// On the attention weights (`attention_dropout`).
    pub dropout: Dropout,
    /// After `Wo` (`out_drop`, also `attention_dropout`).
    pub out_drop: Dropout,
    pub localness: Option<LocalnessBias<B>>,
    pub num_attention_heads: usize,
    pub variant: AttentionVariant,
}

/// Mirrors `ModernBertMLP`: GeGLU, `Wo(drop(act(x W_in) ⊙ x W_gate))` with `Wi` = [W_in | W_gate].
#[derive(Module, Debug)]
pub struct ModernBertMlp<B: Backend> {
    /// `Wi` in the checkpoint: d → 2·d_ff.
    pub wi: Linear<B>,
    /// `Wo` in the checkpoint: d_ff → d.
    pub wo: Linear<B>,
    pub drop: Dropout,
    #[module(skip)]
    act: Activation,
}

/// Mirrors `ModernBertEncoderLayer`.
#[derive(Module, Debug)]
pub struct ModernBertEncoderLayer<B: Backend> {
    /// `None` in layer 0 (`nn.Identity` there: the embeddings were just normalised).
    pub attn_norm: Option<LayerNorm<B>>,
    pub attn: ModernBertAttention<B>,
    pub mlp_norm: LayerNorm<B>,
    pub mlp: ModernBertMlp<B>,
}

/// What a layer needs besides its input: its mask bias (`[B, 1, n, n]` or `[B, 1, 1, n]`), the RoPE tables of
/// its type (`[n, d_h]`), the padding mask (for the variants that need lengths) and the norms' ε (burn's
/// `LayerNorm` keeps its own private; the fused norm is given it).
pub struct LayerContext<'a, B: Backend> {
    pub bias: &'a Tensor<B, 4>,
    pub cos: &'a Tensor<B, 2>,
    pub sin: &'a Tensor<B, 2>,
    pub mask: &'a AttentionMask<B>,
    pub norm_eps: f64,
}

impl<B: SesameBackend> ModernBertEncoderLayer<B> {
    pub fn new(
        config: &ModernBertConfig,
        index: usize,
        variant: AttentionVariant,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let (d, d_ff, std) = (
            config.hidden_size,
            config.intermediate_size,
            config.initializer_range,
        );
        let attn = ModernBertAttention {
            wqkv: linear_with(d, 3 * d, std, config.attention_bias, device),
            wo: linear_with(d, d, std, config.attention_bias, device),
            dropout: Dropout::new(config.attention_dropout, stream),
            out_drop: Dropout::new(config.attention_dropout, stream),
            localness: variant
                .localness
                .as_ref()
                .map(|l| LocalnessBias::new(config.head_size(), l, std, device)),
            num_attention_heads: config.num_attention_heads,
            variant,
        };
        ModernBertEncoderLayer {
            attn_norm: (index > 0).then(|| norm(config, device)),
            attn,
            mlp_norm: norm(config, device),
            mlp: ModernBertMlp {
                wi: linear_with(d, 2 * d_ff, std, config.mlp_bias, device),
                wo: linear_with(d_ff, d, std, config.mlp_bias, device),
                drop: Dropout::new(config.mlp_dropout, stream),
                act: config.hidden_activation,
            },
        }
    }

    /// The localness network's parameters, a variant's own.
    pub fn fresh_params(&self) -> impl Iterator<Item = (ParamId, ParamOrigin)> + '_ {
        self.attn
            .localness
            .iter()
            .flat_map(|l| all_params_as(l, ParamOrigin::Variant))
    }

    /// `[B, n, d]` → (`[B, n, d]`, attention weights `[B, H, n, n]` before dropout).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        cx: &LayerContext<'_, B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let normed = match &self.attn_norm {
            Some(norm) => layer_norm(hidden.clone(), norm, cx.norm_eps),
            None => hidden.clone(),
        };
        let (attended, probs) = self.attn.forward(normed, cx)?;
        let hidden = hidden + attended;
        let normed = layer_norm(hidden.clone(), &self.mlp_norm, cx.norm_eps);
        let out = hidden + self.mlp.forward(normed);
        Ok((out, probs))
    }
}

impl<B: SesameBackend> ModernBertAttention<B> {
    /// `[B, n, d]` → (`[B, n, d]`, weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        cx: &LayerContext<'_, B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let h = self.num_attention_heads;
        let d = hidden.dims()[2];
        let qkv = linear_tokens(&self.wqkv, hidden);
        let q = rope(qkv.clone().narrow(2, 0, d), cx.cos, cx.sin, h);
        let k = rope(qkv.clone().narrow(2, d, d), cx.cos, cx.sin, h);
        // Seam 1: the values, before the heads are taken apart.
        let v = self
            .variant
            .transform_values(qkv.narrow(2, 2 * d, d), cx.mask)?;
        // Seam 2: the layer's mask (window and padding), a localness bias from the rotated queries, the
        // normaliser.
        let bias = match &self.localness {
            Some(localness) => {
                localness.forward(split_heads(q.clone(), h), cx.mask) + cx.bias.clone()
            }
            None => cx.bias.clone(),
        };
        let (context, probs) =
            scaled_dot_product(q, k, v, bias, h, &self.variant.normalizer, &self.dropout);
        // Seam 3: the merged context, before `Wo`.
        let context = self.variant.transform_context(context, cx.mask)?;
        Ok((
            self.out_drop.forward(linear_tokens(&self.wo, context)),
            probs,
        ))
    }
}

impl<B: SesameBackend> ModernBertMlp<B> {
    /// `[B, n, d]` → `[B, n, d]`.
    pub fn forward(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = linear_tokens(&self.wi, hidden);
        linear_tokens(&self.wo, self.drop.forward(gated(x, self.act)))
    }
}
