//! `BertLayer` = attention + feed-forward (`BertIntermediate`, `BertOutput`).

use crate::fused::SesameBackend;
use burn::module::Module;
use burn::nn::Linear;

use crate::bert::dropout::DropoutStream;
use burn::tensor::{backend::Backend, Tensor};

use super::attention::{BertAttention, DenseResidualNorm};
use crate::bert::config::BertConfig;
use crate::error::Result;
use crate::fused::gelu;
use crate::methods::variant::AttentionVariant;
use crate::nn::mask::AttentionMask;
use crate::nn::{linear, linear_tokens};

/// Mirrors `BertIntermediate`: dense d → d_ff, exact (erf) GELU.
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    pub dense: Linear<B>,
}

/// Mirrors `BertOutput`: dense d_ff → d, dropout, residual, LayerNorm (the same computation as
/// `BertSelfOutput`).
pub type BertOutput<B> = DenseResidualNorm<B>;

impl<B: SesameBackend> BertIntermediate<B> {
    /// `[B, n, d]` → `[B, n, d_ff]`.
    pub fn forward(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        gelu(linear_tokens(&self.dense, hidden))
    }
}

/// Mirrors `BertLayer` (keys `encoder.layer.N.{attention,intermediate,output}.*`).
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: BertAttention<B>,
    pub intermediate: BertIntermediate<B>,
    pub output: BertOutput<B>,
}

impl<B: SesameBackend> BertLayer<B> {
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
            output: BertOutput::new(config, d_ff, stream, device),
        }
    }

    /// `[B, n, d]` → (`[B, n, d]`, attention weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let (attended, probs) = self.attention.forward(hidden, mask)?;
        let intermediate = self.intermediate.forward(attended.clone());
        Ok((self.output.forward(intermediate, attended), probs))
    }
}
