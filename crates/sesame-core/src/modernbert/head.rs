//! ModernBERT's classification head: the final hidden states pooled (`[CLS]` or the mean over real tokens,
//! `classifier_pooling`) → `head.dense` → `classifier_activation` → `head.norm` → dropout → `classifier` (keys
//! `head.*`, `classifier.*`, as `ModernBertForSequenceClassification`).

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{backend::Backend, Tensor};

use super::config::{Activation, ModernBertConfig, Pooling};
use super::layer::{activate, norm};
use crate::bert::dropout::{Dropout, DropoutStream};
use crate::fused::SesameBackend;
use crate::nn::mask::AttentionMask;
use crate::nn::{linear, linear_with};

/// Mirrors `ModernBertPredictionHead` (keys `head.dense`, `head.norm`).
#[derive(Module, Debug)]
pub struct ModernBertPredictionHead<B: Backend> {
    pub dense: Linear<B>,
    pub norm: LayerNorm<B>,
    #[module(skip)]
    act: Activation,
}

impl<B: SesameBackend> ModernBertPredictionHead<B> {
    pub fn new(config: &ModernBertConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        ModernBertPredictionHead {
            dense: linear_with(
                d,
                d,
                config.initializer_range,
                config.classifier_bias,
                device,
            ),
            norm: norm(config, device),
            act: config.classifier_activation,
        }
    }

    /// `[B, d]` → `[B, d]`.
    pub fn forward(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        self.norm
            .forward(activate(self.act, self.dense.forward(pooled)))
    }
}

/// The head and the output layer of `ModernBertForSequenceClassification` (keys `head.*`, `classifier.*`).
#[derive(Module, Debug)]
pub struct ModernBertClassifierHead<B: Backend> {
    pub head: ModernBertPredictionHead<B>,
    pub drop: Dropout,
    /// `[d, num_labels]`, with a bias.
    pub classifier: Linear<B>,
    #[module(skip)]
    pooling: Pooling,
}

impl<B: SesameBackend> ModernBertClassifierHead<B> {
    pub fn new(
        config: &ModernBertConfig,
        num_labels: usize,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        ModernBertClassifierHead {
            head: ModernBertPredictionHead::new(config, device),
            drop: Dropout::new(config.classifier_dropout, stream),
            classifier: linear(
                config.hidden_size,
                num_labels,
                config.initializer_range,
                device,
            ),
            pooling: config.classifier_pooling,
        }
    }

    /// `sequence`: `[B, n, d]` (after `final_norm`) → logits `[B, num_labels]`.
    pub fn forward(&self, sequence: Tensor<B, 3>, mask: &AttentionMask<B>) -> Tensor<B, 2> {
        let [b, n, d] = sequence.dims();
        let pooled = match self.pooling {
            Pooling::Cls => sequence.narrow(1, 0, 1).reshape([b, d]),
            Pooling::Mean => {
                let m = mask.mask(); // [B, n]
                                     // Elementwise, not a batched product with one row (which the wgpu backend computed
                                     // wrongly in the projected SE squeeze).
                let sum = (sequence * m.clone().reshape([b, n, 1]))
                    .sum_dim(1)
                    .reshape([b, d]);
                sum / m.sum_dim(1)
            }
        };
        self.classifier
            .forward(self.drop.forward(self.head.forward(pooled)))
    }
}
