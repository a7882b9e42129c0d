//! DeBERTa's classification head: the first token → dropout (`pooler_dropout`) → `pooler.dense` →
//! `pooler_hidden_act` (`ContextPooler`) → dropout (`cls_dropout`) → `classifier` (keys `pooler.*`,
//! `classifier.*`, as `DebertaV2ForSequenceClassification`).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor};

use super::config::DebertaV2Config;
use crate::bert::dropout::{Dropout, DropoutStream};
use crate::fused::SesameBackend;
use crate::modernbert::config::Activation;
use crate::modernbert::layer::activate;
use crate::nn::linear;

/// Mirrors `ContextPooler` (keys `pooler.dense`).
#[derive(Module, Debug)]
pub struct ContextPooler<B: Backend> {
    pub dense: Linear<B>,
    pub dropout: Dropout,
    #[module(skip)]
    act: Activation,
}

/// The pooler and the output layer of `DebertaV2ForSequenceClassification`.
#[derive(Module, Debug)]
pub struct DebertaV2ClassifierHead<B: Backend> {
    pub pooler: ContextPooler<B>,
    pub dropout: Dropout,
    /// `[d, num_labels]`, with a bias.
    pub classifier: Linear<B>,
}

impl<B: SesameBackend> DebertaV2ClassifierHead<B> {
    pub fn new(
        config: &DebertaV2Config,
        num_labels: usize,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let (d, std) = (config.hidden_size, config.initializer_range);
        DebertaV2ClassifierHead {
            pooler: ContextPooler {
                dense: linear(d, d, std, device),
                dropout: Dropout::new(config.pooler_dropout, stream),
                act: config.pooler_hidden_act,
            },
            dropout: Dropout::new(config.cls_dropout, stream),
            classifier: linear(d, num_labels, std, device),
        }
    }

    /// `sequence`: `[B, n, d]` → logits `[B, num_labels]`.
    pub fn forward(&self, sequence: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, _, d] = sequence.dims();
        let first = self
            .pooler
            .dropout
            .forward(sequence.narrow(1, 0, 1).reshape([b, d]));
        let pooled = activate(self.pooler.act, self.pooler.dense.forward(first));
        self.classifier.forward(self.dropout.forward(pooled))
    }
}
