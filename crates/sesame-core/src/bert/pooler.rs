//! `BertPooler`: tanh(W·h_[CLS] + b).

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor};

use crate::bert::config::BertConfig;
use crate::nn::linear;

/// Mirrors `BertPooler` (keys `pooler.dense.*`).
#[derive(Module, Debug)]
pub struct BertPooler<B: Backend> {
    pub dense: Linear<B>,
}

impl<B: Backend> BertPooler<B> {
    pub fn new(config: &BertConfig, device: &B::Device) -> Self {
        let d = config.hidden_size;
        BertPooler {
            dense: linear(d, d, config.initializer_range, device),
        }
    }

    /// `sequence`: `[B, n, d]` → `[B, d]` from the first ([CLS]) position.
    pub fn forward(&self, sequence: Tensor<B, 3>) -> Tensor<B, 2> {
        let [b, _, d] = sequence.dims();
        let cls = sequence.narrow(1, 0, 1).reshape([b, d]);
        self.dense.forward(cls).tanh()
    }
}
