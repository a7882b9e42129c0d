//! `ClassificationHead`: each family's sequence-classification head, under one module (keys `classifier.*`,
//! renamed per family by [`crate::Family::rename`]: BERT's `classifier`, RoBERTa's and ELECTRA's
//! `classifier.dense`/`classifier.out_proj`, DistilBERT's `pre_classifier`/`classifier`).

use crate::fused::SesameBackend;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{backend::Backend, Tensor};

use crate::bert::config::BertConfig;
use crate::bert::dropout::{Dropout, DropoutStream};
use crate::bert::family::HeadKind;
use crate::bert::pooler::BertPooler;
use crate::fused::gelu;
use crate::nn::linear;

/// The task head on top of the (possibly SE-gated) sequence output.
#[derive(Module, Debug)]
pub struct ClassificationHead<B: Backend> {
    /// The head's own hidden layer (`None` for BERT, whose dense layer is the encoder's pooler).
    pub dense: Option<Linear<B>>,
    /// `[d, num_labels]`.
    pub out_proj: Linear<B>,
    pub dropout: Dropout,
    #[module(skip)]
    kind: HeadKind,
}

impl<B: SesameBackend> ClassificationHead<B> {
    /// A fresh head for `config`'s family: weights N(0, initializer_range²), zero biases.
    pub fn new(
        config: &BertConfig,
        num_labels: usize,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let (d, std) = (config.hidden_size, config.initializer_range);
        let kind = config.family().head();
        ClassificationHead {
            dense: (kind != HeadKind::Pooler).then(|| linear(d, d, std, device)),
            out_proj: linear(d, num_labels, std, device),
            dropout: Dropout::new(config.head_dropout(), stream),
            kind,
        }
    }

    /// `sequence`: `[B, n, d]` → logits `[B, num_labels]` from the first token. `pooler` is the encoder's,
    /// which BERT's head goes through (the others have none).
    pub fn forward(&self, sequence: Tensor<B, 3>, pooler: Option<&BertPooler<B>>) -> Tensor<B, 2> {
        let [b, _, d] = sequence.dims();
        let features = match (self.kind, pooler, &self.dense) {
            (HeadKind::Pooler, Some(pooler), _) => pooler.forward(sequence),
            (HeadKind::DenseRelu, _, Some(dense)) => {
                relu(dense.forward(sequence.narrow(1, 0, 1).reshape([b, d])))
            }
            (kind, _, Some(dense)) => {
                let first = self
                    .dropout
                    .forward(sequence.narrow(1, 0, 1).reshape([b, d]));
                let hidden = dense.forward(first);
                match kind {
                    HeadKind::DenseGelu => gelu(hidden),
                    _ => hidden.tanh(),
                }
            }
            // A BERT head without the encoder's pooler cannot be built by `new`; the first token stands in.
            _ => sequence.narrow(1, 0, 1).reshape([b, d]),
        };
        self.out_proj.forward(self.dropout.forward(features))
    }
}
