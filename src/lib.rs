//! # sesame
//!
//! Fine-tune BERT-family, ModernBERT and DeBERTa-v3 encoders with the attention enhancements of SesameBERT and its neighbours, on
//! [burn](https://burn.dev), with the numbers of Hugging Face `transformers`.
//!
//! This facade re-exports [`sesame_core`] (the model) and [`sesame_train`] (data and learner) and chooses the
//! backend from cargo features ([`backend`]). The `sesame` command line lives in the `sesame-cli` crate, so
//! depending on this library brings no command-line, progress-bar, plotting or TOML crate.

pub use sesame_core as core;
pub use sesame_train as train;

pub use sesame_core::{
    AttentionConfig, BertConfig, BertInput, BertModel, BertTokenizer, BlurBoundary, BlurConfig,
    BlurTarget, CoreError, EncodedBatch, Encoder, EncoderConfig, LoadReport, MissingWeights,
    Preset, ScoreNormalizer, SequenceClassifier, SesameAutodiffBackend, SesameBackend,
    SesameConfig,
};
pub use sesame_train::{FinetuneJob, RunReport, SavePolicy, Start, Task, TrainConfig, TrainError};

pub mod alloc;
pub mod backend;
pub mod runtime;
