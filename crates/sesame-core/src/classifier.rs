//! Sequence classification and regression on top of any encoder variant: `BertModel` → layer aggregation
//! (optional SE gate) → the family's head (BERT: pretrained pooler → dropout → linear), as
//! `*ForSequenceClassification` with SesameBERT's sequence output.

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::tensor::activation::log_softmax;
use burn::tensor::{backend::Backend, Int, Tensor};

use crate::bert::config::BertConfig;
use crate::bert::dropout::DropoutStream;
use crate::bert::model::BertInput;
use crate::bert::BertModel;
use crate::error::{CoreError, Result};
use crate::fused::SesameBackend;
use crate::head::ClassificationHead;
use crate::methods::guiding::{guiding_terms, GuidingTerms};
use crate::methods::se::LayerAggregator;
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

/// A BERT-family encoder with any variant and a sequence-level head (keys `bert.*` or the family's prefix,
/// `se.*`, `scalar_mix.*`, `classifier.*`, as `*ForSequenceClassification` plus the gate).
#[derive(Module, Debug)]
pub struct SequenceClassifier<B: Backend> {
    pub bert: BertModel<B>,
    pub aggregator: LayerAggregator<B>,
    pub classifier: ClassificationHead<B>,
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
    /// A freshly initialised model (classifier N(0, initializer_range²), zero bias).
    pub fn new(
        bert_config: &BertConfig,
        config: &SesameConfig,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate(bert_config.num_hidden_layers)?;
        let bert = BertModel::new(bert_config, &config.attention, device)?;
        let classifier = ClassificationHead::new(
            bert_config,
            config.num_labels,
            bert.dropout_stream(),
            device,
        );
        Ok(SequenceClassifier {
            bert,
            aggregator: LayerAggregator::new(
                bert_config.num_hidden_layers,
                bert_config.hidden_size,
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
        self.num_params() - self.bert.embeddings.table_params()
    }

    pub fn family(&self) -> crate::Family {
        self.bert.config().family()
    }

    /// The random stream of every dropout layer of the model.
    pub fn dropout_stream(&self) -> &DropoutStream {
        self.bert.dropout_stream()
    }

    pub fn forward(&self, input: BertInput<B>) -> Result<ClassifierOutput<B>> {
        let encoded = self.bert.encode(input, self.config.guiding.is_some())?;
        let aggregated = self
            .aggregator
            .forward(encoded.layer_outputs(), &encoded.mask);
        let logits = self
            .classifier
            .forward(aggregated.sequence, self.bert.pooler.as_ref());
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
