//! Sequence classification and regression on top of any encoder and attention variant: [`Encoder`] → layer
//! aggregation (optional SE gate) → the architecture's head (BERT: pretrained pooler → dropout → linear), as
//! `*ForSequenceClassification` with SesameBERT's sequence output.

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::tensor::activation::log_softmax;
use burn::tensor::{backend::Backend, Int, Tensor};

use crate::bert::dropout::DropoutStream;
use crate::bert::model::BertInput;
use crate::deberta::DebertaV2ClassifierHead;
use crate::encoder::{Encoder, EncoderConfig};
use crate::error::{CoreError, Result};
use crate::fused::SesameBackend;
use crate::head::ClassificationHead;
use crate::methods::guiding::{guiding_terms, GuidingTerms};
use crate::methods::se::LayerAggregator;
use crate::modernbert::ModernBertClassifierHead;
use crate::nn::origin::{all_params_as, FreshParams, ParamOrigin};
use crate::sesame_config::SesameConfig;

/// What [`SequenceClassifier::forward`] returns.
pub struct ClassifierOutput<B: Backend> {
    /// `[B, num_labels]`.
    pub logits: Tensor<B, 2>,
    /// SE gates `[B, L]`, when the gate is on.
    pub gates: Option<Tensor<B, 2>>,
    /// What MDG and PDG are computed from, when guiding is configured.
    pub guiding: Option<GuidingTerms<B>>,
}

/// Targets of a batch: class indices or regression values.
#[derive(Debug, Clone)]
pub enum Targets<B: Backend> {
    Classes(Tensor<B, 1, Int>),
    Values(Tensor<B, 1>),
}

/// The sequence-level head of each architecture (keys `classifier.*`, renamed per family). A model holds one,
/// so the sizes of the variants do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum SequenceHead<B: Backend> {
    /// The BERT family's heads.
    Bert(ClassificationHead<B>),
    /// `head.*` and `classifier.*`.
    ModernBert(ModernBertClassifierHead<B>),
    /// `pooler.*` and `classifier.*`.
    DebertaV2(DebertaV2ClassifierHead<B>),
}

impl<B: SesameBackend> SequenceHead<B> {
    /// A fresh head of `labels` outputs for `config`'s architecture (weights N(0, initializer_range²), zero
    /// biases).
    pub fn new(
        config: &EncoderConfig,
        labels: usize,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        match config {
            EncoderConfig::Bert(c) => {
                Self::Bert(ClassificationHead::new(c, labels, stream, device))
            }
            EncoderConfig::ModernBert(c) => {
                Self::ModernBert(ModernBertClassifierHead::new(c, labels, stream, device))
            }
            EncoderConfig::DebertaV2(c) => {
                Self::DebertaV2(DebertaV2ClassifierHead::new(c, labels, stream, device))
            }
        }
    }
}

/// An encoder with any variant and a sequence-level head (keys `bert.*` or the family's prefix, `se.*`,
/// `scalar_mix.*`, `classifier.*`, as `*ForSequenceClassification` plus the gate). The encoder's field is named
/// as BERT's attribute, the prefix its key rule starts from.
#[derive(Module, Debug)]
pub struct SequenceClassifier<B: Backend> {
    pub bert: Encoder<B>,
    pub aggregator: LayerAggregator<B>,
    pub classifier: SequenceHead<B>,
    config: SesameConfig,
}

impl<B: SesameBackend> FreshParams<B> for SequenceClassifier<B> {
    /// The encoder's fresh parameters, the head's and the layer aggregator's (SE gate, scalar mix).
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin> {
        let mut fresh = self.bert.fresh_params();
        fresh.extend(all_params_as(&self.classifier, ParamOrigin::Head));
        fresh.extend(all_params_as(&self.aggregator, ParamOrigin::Variant));
        fresh
    }
}

impl<B: SesameBackend> SequenceClassifier<B> {
    /// A freshly initialised model of `encoder`'s architecture (a [`EncoderConfig`], or a `&BertConfig`):
    /// classifier N(0, initializer_range²), zero bias.
    pub fn new(
        encoder: impl Into<EncoderConfig>,
        config: &SesameConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let encoder = encoder.into();
        let layers = encoder.num_hidden_layers();
        config.validate(layers)?;
        let bert = Encoder::new(&encoder, &config.attention, device)?;
        let classifier =
            SequenceHead::new(&encoder, config.num_labels, bert.dropout_stream(), device);
        Ok(SequenceClassifier {
            bert,
            aggregator: LayerAggregator::new(
                layers,
                encoder.hidden_size(),
                &config.layers,
                device,
            )?,
            classifier,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &SesameConfig {
        &self.config
    }

    /// The encoder's architecture family (its key names, head and switches).
    /// Parameters outside the embedding tables: `transformers` estimates a run's FLOPs as 6 × these × the
    /// token positions trained on.
    pub fn non_embedding_params(&self) -> usize {
        self.num_params() - self.bert.table_params()
    }

    pub fn family(&self) -> crate::Family {
        self.bert.family()
    }

    /// The encoder's architecture.
    pub fn encoder_config(&self) -> EncoderConfig {
        self.bert.config()
    }

    /// The random stream of every dropout layer of the model.
    pub fn dropout_stream(&self) -> &DropoutStream {
        self.bert.dropout_stream()
    }

    pub fn forward(&self, input: BertInput<B>) -> Result<ClassifierOutput<B>> {
        let out = self.bert.encode(input, self.config.guiding.is_some())?;
        let encoded = out.encoded;
        let aggregated = self.aggregator.forward(&out.layer_outputs, &encoded.mask);
        let sequence = self.bert.finish(aggregated.sequence);
        let logits = match (&self.classifier, &self.bert) {
            (SequenceHead::Bert(head), Encoder::Bert(bert)) => {
                head.forward(sequence, bert.pooler.as_ref())
            }
            (SequenceHead::Bert(head), _) => head.forward(sequence, None),
            (SequenceHead::ModernBert(head), _) => head.forward(sequence, &encoded.mask),
            (SequenceHead::DebertaV2(head), _) => head.forward(sequence),
        };
        let guiding = match (&self.config.guiding, &encoded.attentions) {
            (Some(g), Some(a)) => Some(guiding_terms(a, &encoded.mask, g)),
            _ => None,
        };
        Ok(ClassifierOutput {
            logits,
            gates: aggregated.gates,
            guiding,
        })
    }

    /// Task loss (cross-entropy or MSE) plus the weighted guiding losses, averaged over the batch.
    pub fn loss(&self, output: &ClassifierOutput<B>, targets: Targets<B>) -> Result<Tensor<B, 1>> {
        self.loss_over_rows(output, targets, None)
    }

    /// [`loss`](Self::loss) averaged over the rows of weight 1 of `rows` (`[B]`: 1 for an example, 0 for a
    /// filler row that only completes a batch's shape), which get no gradient from the others. Without `rows`,
    /// burn's own losses, over every row.
    pub fn loss_over_rows(
        &self,
        output: &ClassifierOutput<B>,
        targets: Targets<B>,
        rows: Option<&Tensor<B, 1>>,
    ) -> Result<Tensor<B, 1>> {
        let logits = output.logits.clone();
        let [b, _] = logits.dims();
        let weighted_mean = |per_row: Tensor<B, 1>, rows: &Tensor<B, 1>| {
            (per_row * rows.clone()).sum() / rows.clone().sum()
        };
        let task = match (targets, rows) {
            (Targets::Classes(classes), None) if !self.config.is_regression() => {
                CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, classes)
            }
            (Targets::Classes(classes), Some(rows)) if !self.config.is_regression() => {
                let nll = log_softmax(logits, 1)
                    .gather(1, classes.reshape([b, 1]))
                    .reshape([b])
                    .neg();
                weighted_mean(nll, rows)
            }
            (Targets::Values(values), None) if self.config.is_regression() => {
                MseLoss::new().forward(logits.reshape([b]), values, Reduction::Mean)
            }
            (Targets::Values(values), Some(rows)) if self.config.is_regression() => {
                weighted_mean((logits.reshape([b]) - values).powi_scalar(2), rows)
            }
            _ => {
                return Err(CoreError::Input(
                    "targets do not match the head: classes need num_labels > 1, values need num_labels = 1"
                        .into(),
                ))
            }
        };
        Ok(match (&output.guiding, &self.config.guiding) {
            (Some(terms), Some(g)) => task + terms.losses(rows).weighted(g),
            _ => task,
        })
    }
}
