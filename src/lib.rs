//! # sesame
//!
//! Fine-tune BERT-family encoders with the attention enhancements of SesameBERT and its neighbours, on
//! [burn](https://burn.dev), with the numbers of Hugging Face `transformers`.
//!
//! This facade re-exports [`sesame_core`] (the model) and [`sesame_train`] (data and learner), chooses the
//! backend from cargo features ([`backend`]) and implements the `sesame` command line.

pub use sesame_core as core;
pub use sesame_train as train;

pub use sesame_core::{
    AttentionConfig, BertConfig, BertInput, BertModel, BertTokenizer, BlurBoundary, BlurConfig,
    BlurTarget, Checkpoint, CoreError, EncodedBatch, LoadReport, ScoreNormalizer,
    SequenceClassifier, SesameConfig,
};

pub mod alloc;
pub mod backend;
pub mod bench;
pub mod encode;
pub mod error;
pub mod finetune;
pub mod hans_eval;
pub mod options;
pub mod predict;
pub mod progress;
pub mod report;

pub use error::SesameError;

/// The sequence classifier on a backend (re-exported for callers that name the type).
pub type SequenceClassifierOf<B> = sesame_core::SequenceClassifier<B>;
