//! `BertLayer` = attention + feed-forward (`BertIntermediate`, `BertOutput`).

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};

use crate::dropout::Dropout;
use burn::tensor::{backend::Backend, Tensor};

use super::attention::BertAttention;
use super::mask::AttentionMask;
use super::nn::{layer_norm, linear, linear_tokens, visit_layer_norm, visit_linear};
use crate::config::BertConfig;
use crate::error::Result;
use crate::ops::gelu;
use crate::params::{ParamKind, ParamVisitor};
use crate::variant::AttentionVariant;

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

/// Mirrors `BertLayer` (keys `encoder.layer.N.{attention,intermediate,output}.*`).
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    pub intermediate: BertIntermediate<B>,
    pub output: BertOutput<B>,
}

impl<B: Backend> BertLayer<B> {
    pub fn new(config: &BertConfig, variant: AttentionVariant, device: &B::Device) -> Self {
        let (d, d_ff, std) = (
            config.hidden_size,
            config.intermediate_size,
            config.initializer_range,
        );
        BertLayer {
            attention: BertAttention::new(config, variant, device),
            intermediate: BertIntermediate {
                dense: linear(d, d_ff, std, device),
            },
            output: BertOutput {
                dense: linear(d_ff, d, std, device),
                layer_norm: layer_norm(d, config.layer_norm_eps, device),
                dropout: Dropout::new(config.hidden_dropout_prob),
            },
        }
    }

    pub fn visit_params(&mut self, visitor: &mut dyn ParamVisitor<B>, prefix: &str) -> Result<()> {
        self.attention
            .visit_params(visitor, &format!("{prefix}.attention"))?;
        visit_linear(
            &mut self.intermediate.dense,
            visitor,
            &format!("{prefix}.intermediate.dense"),
            ParamKind::Pretrained,
        )?;
        visit_linear(
            &mut self.output.dense,
            visitor,
            &format!("{prefix}.output.dense"),
            ParamKind::Pretrained,
        )?;
        visit_layer_norm(
            &mut self.output.layer_norm,
            visitor,
            &format!("{prefix}.output.LayerNorm"),
        )
    }

    /// `[B, n, d]` → (`[B, n, d]`, attention weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let (attended, probs) = self.attention.forward(hidden, mask);
        let ff = gelu(linear_tokens(&self.intermediate.dense, attended.clone()));
        let ff = self
            .output
            .dropout
            .forward(linear_tokens(&self.output.dense, ff));
        (self.output.layer_norm.forward(ff + attended), probs)
    }
}
