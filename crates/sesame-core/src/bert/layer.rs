//! `BertLayer` = attention + feed-forward (`BertIntermediate`, `BertOutput`).

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};

use crate::bert::dropout::{Dropout, DropoutStream};
use burn::tensor::{backend::Backend, Tensor};

use super::attention::BertAttention;
use super::mask::AttentionMask;
use super::nn::{layer_norm, linear, linear_tokens};
use crate::bert::config::BertConfig;
use crate::bert::ops::gelu;
use crate::methods::variant::AttentionVariant;

/// Mirrors `BertIntermediate`: dense d → d_ff, exact (erf) GELU.
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    pub dense: Linear<B>,
}

/// Mirrors `BertOutput`: dense d_ff → d, dropout, residual, LayerNorm.
#[derive(Module, Debug)]
pub struct BertOutput<B: Backend> {
    pub dense: Linear<B>,
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

impl<B: Backend> BertIntermediate<B> {
    /// `[B, n, d]` → `[B, n, d_ff]`.
    pub fn forward(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        gelu(linear_tokens(&self.dense, hidden))
    }
}

impl<B: Backend> BertOutput<B> {
    /// `intermediate`: `[B, n, d_ff]`, `residual`: `[B, n, d]` → `[B, n, d]`.
    pub fn forward(&self, intermediate: Tensor<B, 3>, residual: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self
            .dropout
            .forward(linear_tokens(&self.dense, intermediate));
        self.layer_norm.forward(x + residual)
    }
}

/// Mirrors `BertLayer` (keys `encoder.layer.N.{attention,intermediate,output}.*`).
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    pub intermediate: BertIntermediate<B>,
    pub output: BertOutput<B>,
}

impl<B: Backend> BertLayer<B> {
    pub fn new(
        config: &BertConfig,
        variant: AttentionVariant,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let (d, d_ff, std) = (
            config.hidden_size,
            config.intermediate_size,
            config.initializer_range,
        );
        BertLayer {
            attention: BertAttention::new(config, variant, stream, device),
            intermediate: BertIntermediate {
                dense: linear(d, d_ff, std, device),
            },
            output: BertOutput {
                dense: linear(d_ff, d, std, device),
                layer_norm: layer_norm(d, config.layer_norm_eps, device),
                dropout: Dropout::new(config.hidden_dropout_prob, stream),
            },
        }
    }

    /// `[B, n, d]` → (`[B, n, d]`, attention weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let (attended, probs) = self.attention.forward(hidden, mask);
        let intermediate = self.intermediate.forward(attended.clone());
        (self.output.forward(intermediate, attended), probs)
    }
}
