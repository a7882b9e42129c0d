//! `BertEncoder`: the stack of layers, returning every layer's output.

use crate::fused::SesameBackend;
use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};

use super::layer::BertLayer;
use crate::bert::config::BertConfig;
use crate::bert::dropout::DropoutStream;
use crate::error::Result;
use crate::methods::variant::AttentionVariant;
use crate::nn::mask::AttentionMask;

/// Mirrors `BertEncoder` (keys `encoder.layer.N.*`).
#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    pub layer: Vec<BertLayer<B>>,
}

/// Every layer's output, and optionally every layer's attention weights.
pub struct EncoderOutput<B: Backend> {
    /// `H_1 … H_L`, each `[B, n, d]` (the embedding output is not included here).
    pub layer_outputs: Vec<Tensor<B, 3>>,
    /// Per layer `[B, H, n, n]`, when requested.
    pub attentions: Option<Vec<Tensor<B, 4>>>,
}

impl<B: SesameBackend> BertEncoder<B> {
    /// `variants[l]` is the attention variant of layer `l`.
    pub fn new(
        config: &BertConfig,
        variants: &[AttentionVariant],
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        BertEncoder {
            layer: variants
                .iter()
                .map(|v| BertLayer::new(config, v.clone(), stream, device))
                .collect(),
        }
    }

    pub fn forward(
        &self,
        embeddings: Tensor<B, 3>,
        mask: &AttentionMask<B>,
        output_attentions: bool,
    ) -> Result<EncoderOutput<B>> {
        let mut hidden = embeddings;
        let mut layer_outputs = Vec::with_capacity(self.layer.len());
        let mut attentions = output_attentions.then(|| Vec::with_capacity(self.layer.len()));
        for layer in &self.layer {
            let (out, probs) = layer.forward(hidden, mask)?;
            if let Some(a) = attentions.as_mut() {
                a.push(probs);
            }
            layer_outputs.push(out.clone());
            hidden = out;
        }
        Ok(EncoderOutput {
            layer_outputs,
            attentions,
        })
    }
}
