//! The fine-tuning recipe: BERT's GLUE settings as `run_glue.py` uses them, with every default in one place
//! (`impl Default`; serde fills missing fields from it, so older run configs still read). Field names are
//! the command line's flags (`run_glue.py`'s where it has one); earlier names are read as aliases.

use serde::{Deserialize, Serialize};
use sesame_core::fused::Precision;
use sesame_core::SesameBackend;

use crate::error::TrainError;
use crate::optim::AdamWConfig;
use crate::shapes::{default_length_buckets, default_pad_multiple};

/// The recipe. Defaults are BERT's GLUE settings as `run_glue.py` uses them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub learning_rate: f64,
    /// Peak learning rate of the freshly initialised parameters (head, SE gate, scalar mix, localness);
    /// `None` = `learning_rate`.
    #[serde(alias = "fresh_learning_rate")]
    pub head_learning_rate: Option<f64>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Micro-batches per optimizer update (effective batch = batch_size × this).
    pub gradient_accumulation: usize,
    pub max_seq_length: usize,
    pub warmup_ratio: f64,
    pub optimizer: AdamWConfig,
    pub seed: u64,
    pub eval_batch_size: usize,
    /// Also evaluate every N optimizer updates (always at the end of each epoch).
    #[serde(alias = "eval_every")]
    pub eval_steps: Option<usize>,
    /// Log loss, learning rate and throughput every N updates (the only host reads of the loss).
    #[serde(alias = "log_every")]
    pub logging_steps: usize,
    /// Group examples of similar length into batches (less padding; order still random).
    pub bucket_by_length: bool,
    /// With dynamic padding (`length_buckets` 0), round each batch's length up to a multiple of this.
    #[serde(alias = "pad_to_multiple")]
    pub pad_to_multiple_of: usize,
    /// A shape plan of at most this many lengths ([`crate::shapes`]): every batch, training and evaluation, has
    /// `batch_size` rows and one of the planned lengths, and each shape runs once before the first update. 0:
    /// each batch is padded to its longest example (the command line takes the backend's default:
    /// `sesame::backend::LENGTH_BUCKETS`, 0 on the CPU, 4 on the GPU backends).
    pub length_buckets: usize,
    /// Use only the first N training examples (quick runs).
    #[serde(alias = "max_train_examples")]
    pub max_train_samples: Option<usize>,
    /// The precision of the model's matrix products (`sesame_core::fused::precision`): f32 (the default, as
    /// `transformers`' Trainer), tf32, or mixed bf16/f16 (f16 with dynamic loss scaling). The CPU backends
    /// compute in f32 only.
    pub precision: Precision,
    /// Stop when the dev selection metric has not improved for this many evaluations in a row (Trainer's
    /// `EarlyStoppingCallback`); the best model is kept either way.
    pub early_stopping_patience: Option<usize>,
}

impl Default for TrainConfig {
    /// BERT's recipe.
    fn default() -> Self {
        TrainConfig {
            learning_rate: 3e-5,
            head_learning_rate: None,
            epochs: 3,
            batch_size: 32,
            gradient_accumulation: 1,
            max_seq_length: 128,
            warmup_ratio: 0.1,
            optimizer: AdamWConfig::default(),
            seed: 42,
            eval_batch_size: 64,
            eval_steps: None,
            logging_steps: 10,
            bucket_by_length: false,
            pad_to_multiple_of: 1,
            length_buckets: 0,
            max_train_samples: None,
            precision: Precision::F32,
            early_stopping_patience: None,
        }
    }
}

impl TrainConfig {
    /// BERT's recipe with backend `B`'s shape defaults: a shape plan of [`default_length_buckets`] lengths,
    /// else padding to multiples of [`default_pad_multiple`] (the plan only on the GPU backends).
    pub fn for_backend<B: SesameBackend>() -> Self {
        TrainConfig {
            length_buckets: default_length_buckets(B::ON_HOST),
            pad_to_multiple_of: default_pad_multiple(B::ON_HOST),
            ..TrainConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field, m: String| Err(TrainError::setting(field, m));
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("eval_batch_size", self.eval_batch_size),
            ("gradient_accumulation", self.gradient_accumulation),
            ("epochs", self.epochs),
            ("logging_steps", self.logging_steps),
        ] {
            if value == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(
                "learning_rate",
                format!("must be positive and finite, got {}", self.learning_rate),
            );
        }
        if let Some(lr) = self.head_learning_rate {
            if !(lr > 0.0 && lr.is_finite()) {
                return bad(
                    "head_learning_rate",
                    format!("must be positive and finite, got {lr}"),
                );
            }
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad(
                "warmup_ratio",
                format!("must be in [0, 1], got {}", self.warmup_ratio),
            );
        }
        if self.eval_steps == Some(0) {
            return bad("eval_steps", "must be at least 1".into());
        }
        if self.early_stopping_patience == Some(0) {
            return bad("early_stopping_patience", "must be at least 1".into());
        }
        self.optimizer.validate()
    }

    /// Optimizer updates per epoch for `n` training examples.
    pub fn updates_per_epoch(&self, n: usize) -> usize {
        n.div_ceil(self.batch_size)
            .div_ceil(self.gradient_accumulation)
    }
}
