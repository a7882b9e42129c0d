//! Sequence classification and regression on top of any encoder variant: `BertModel` → layer aggregation
//! (optional SE gate) → pretrained pooler → dropout → linear, as `BertForSequenceClassification` with
//! SesameBERT's sequence output.

use std::path::Path;

use burn::module::Module;
use burn::nn::loss::{CrossEntropyLossConfig, MseLoss, Reduction};
use burn::nn::Linear;

use crate::dropout::Dropout;
use burn::tensor::{backend::Backend, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::blur::{BlurBoundary, BlurConfig, BlurTarget};
use crate::checkpoint::{Checkpoint, LoadReport, ParamLoader};
use crate::config::BertConfig;
use crate::error::{CoreError, Result};
use crate::guiding::{guiding_losses, GuidingConfig, GuidingLosses};
use crate::model::bert::{find_weights, BertInput};
use crate::model::nn::{linear, visit_linear};
use crate::model::BertModel;
use crate::params::{ParamKind, ParamVisitor};
use crate::se::{Aggregation, LayerAggregationConfig, LayerAggregator, SeConfig};
use crate::variant::AttentionConfig;

/// Everything that makes a sesame model differ from plain BERT, plus the head size. Serialisable, so that a
/// run records exactly what it trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SesameConfig {
    /// Attention variants inside every layer (blur, sparsegen-lin, localness).
    #[serde(default)]
    pub attention: AttentionConfig,
    /// SE gate and layer aggregation.
    #[serde(default)]
    pub layers: LayerAggregationConfig,
    /// Attention-guiding losses added to the task loss.
    #[serde(default)]
    pub guiding: Option<GuidingConfig>,
    /// Output size: the number of classes, or 1 for regression (STS-B).
    pub num_labels: usize,
}

impl SesameConfig {
    /// Plain BERT fine-tuning: last layer, no gate, softmax attention.
    pub fn baseline(num_labels: usize) -> Self {
        SesameConfig {
            attention: AttentionConfig::default(),
            layers: LayerAggregationConfig::default(),
            guiding: None,
            num_labels,
        }
    }

    /// SesameBERT as the reference code runs it: context blur (k = 3, σ = 0.3) in every layer, SE gate over
    /// layers with the rescaled last layer as sequence output. The squeeze is the masked mean (sesame's
    /// default under dynamic padding, see docs/methods.md); the blur keeps the reference boundary.
    pub fn sesamebert(num_labels: usize) -> Self {
        SesameConfig {
            attention: AttentionConfig {
                blur: Some(BlurConfig {
                    target: BlurTarget::Context,
                    kernel_size: 3,
                    sigma: 0.3,
                    boundary: BlurBoundary::PaddedEnd,
                    layers: None,
                }),
                ..AttentionConfig::default()
            },
            layers: LayerAggregationConfig {
                se: Some(SeConfig::default()),
                aggregation: Aggregation::Last,
            },
            guiding: None,
            num_labels,
        }
    }

    pub fn validate(&self, num_layers: usize) -> Result<()> {
        if self.num_labels == 0 {
            return Err(CoreError::Invalid("num_labels must be at least 1".into()));
        }
        self.attention.validate(num_layers)?;
        self.layers.validate(num_layers)?;
        if let Some(g) = &self.guiding {
            if !crate::error::is_positive(g.tau) {
                return Err(CoreError::Invalid(format!(
                    "guiding.tau must be positive, got {}",
                    g.tau
                )));
            }
        }
        Ok(())
    }

    /// One output unit means regression (MSE), more mean classification (cross-entropy).
    pub fn is_regression(&self) -> bool {
        self.num_labels == 1
    }
}

/// What [`SequenceClassifier::forward`] returns.
pub struct ClassifierOutput<B: Backend> {
    /// `[B, num_labels]`.
    pub logits: Tensor<B, 2>,
    /// SE gates `[B, L]`, when the gate is on.
    pub gates: Option<Tensor<B, 2>>,
    /// MDG and PDG, when guiding is configured.
    pub guiding: Option<GuidingLosses<B>>,
}

/// Targets of a batch: class indices or regression values.
#[derive(Debug, Clone)]
pub enum Targets<B: Backend> {
    Classes(Tensor<B, 1, Int>),
    Values(Tensor<B, 1>),
}

/// A BERT encoder with any variant and a sequence-level head (keys `bert.*`, `se.*`, `scalar_mix.*`,
/// `classifier.*`, as `BertForSequenceClassification` plus the gate).
#[derive(Module, Debug)]
pub struct SequenceClassifier<B: Backend> {
    pub bert: BertModel<B>,
    pub aggregator: LayerAggregator<B>,
    pub dropout: Dropout,
    pub classifier: Linear<B>,
    config: SesameConfig,
}

impl<B: Backend> SequenceClassifier<B> {
    /// A freshly initialised model (classifier N(0, initializer_range²), zero bias).
    pub fn new(
        bert_config: &BertConfig,
        config: &SesameConfig,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate(bert_config.num_hidden_layers)?;
        let d = bert_config.hidden_size;
        Ok(SequenceClassifier {
            bert: BertModel::new(bert_config, &config.attention, device)?,
            aggregator: LayerAggregator::new(
                bert_config.num_hidden_layers,
                &config.layers,
                device,
            )?,
            dropout: Dropout::new(bert_config.hidden_dropout_prob),
            classifier: linear(d, config.num_labels, bert_config.initializer_range, device),
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &SesameConfig {
        &self.config
    }

    /// Loads the encoder (required) and the head and gate (if present) from a checkpoint.
    pub fn load_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
        device: &B::Device,
    ) -> Result<LoadReport> {
        let mut loader = ParamLoader::<B>::new(checkpoint, device);
        // The checkpoint has already stripped any `bert.` prefix.
        self.visit_params(&mut loader, "")?;
        Ok(loader.finish())
    }

    /// Visits every parameter: the encoder under `bert_prefix`, then `se.*`, `scalar_mix.*`, `classifier.*`.
    pub fn visit_params(
        &mut self,
        visitor: &mut dyn ParamVisitor<B>,
        bert_prefix: &str,
    ) -> Result<()> {
        self.bert.visit_params(visitor, bert_prefix)?;
        self.aggregator.visit_params(visitor, "")?;
        visit_linear(
            &mut self.classifier,
            visitor,
            "classifier",
            ParamKind::Fresh,
        )
    }

    /// A pretrained Hugging Face directory with a fresh head (or the head of a fine-tuned checkpoint).
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        config: &SesameConfig,
        device: &B::Device,
    ) -> Result<(Self, LoadReport)> {
        let dir = dir.as_ref();
        let bert_config = BertConfig::from_file(dir.join("config.json"))?;
        let checkpoint = Checkpoint::from_file(find_weights(dir)?)?;
        let mut model = Self::new(&bert_config, config, device)?;
        let report = model.load_checkpoint(&checkpoint, device)?;
        if !report.missing.is_empty() {
            return Err(CoreError::MissingTensors {
                path: checkpoint.path().to_path_buf(),
                keys: report.missing,
            });
        }
        Ok((model, report))
    }

    pub fn forward(&self, input: BertInput<B>) -> Result<ClassifierOutput<B>> {
        let encoded = self.bert.encode(input, self.config.guiding.is_some())?;
        let aggregated = self
            .aggregator
            .forward(encoded.layer_outputs(), &encoded.mask);
        let pooled = self.bert.pooler.forward(aggregated.sequence);
        let logits = self.classifier.forward(self.dropout.forward(pooled));
        let guiding = match (&self.config.guiding, &encoded.attentions) {
            (Some(g), Some(a)) => Some(guiding_losses(a, &encoded.mask, g)),
            _ => None,
        };
        Ok(ClassifierOutput {
            logits,
            gates: aggregated.gates,
            guiding,
        })
    }

    /// Task loss (cross-entropy or MSE) plus the weighted guiding losses.
    pub fn loss(&self, output: &ClassifierOutput<B>, targets: Targets<B>) -> Result<Tensor<B, 1>> {
        let logits = output.logits.clone();
        let task = match targets {
            Targets::Classes(classes) if !self.config.is_regression() => {
                CrossEntropyLossConfig::new().init(&logits.device()).forward(logits, classes)
            }
            Targets::Values(values) if self.config.is_regression() => {
                let [b, _] = logits.dims();
                MseLoss::new().forward(logits.reshape([b]), values, Reduction::Mean)
            }
            _ => {
                return Err(CoreError::Invalid(
                    "targets do not match the head: classes need num_labels > 1, values need num_labels = 1"
                        .into(),
                ))
            }
        };
        Ok(match (&output.guiding, &self.config.guiding) {
            (Some(losses), Some(g)) => task + losses.weighted(g),
            _ => task,
        })
    }
}
