//! # sesame-core
//!
//! A BERT encoder for [burn](https://burn.dev), generic over `B: Backend`, that loads Hugging Face checkpoints
//! and reproduces `transformers` to float32 precision, with the attention enhancements of SesameBERT (Gaussian
//! blur, squeeze-and-excitation over layers), SSAF (sparsegen-lin attention) and attention guiding.
//!
//! The module tree mirrors `transformers`' `modeling_bert.py` (`embeddings`, `encoder.layer.N.attention.self.query`,
//! `pooler`), so checkpoint keys map 1:1 onto struct fields.

pub mod blur;
pub mod checkpoint;
pub mod config;
pub mod dropout;
pub mod error;
pub mod guiding;
pub mod heads;
pub mod localness;
pub mod model;
pub mod ops;
pub mod params;
pub mod se;
pub mod sparsegen;
pub mod tokenizer;
pub mod variant;

pub use guiding::{GuidingConfig, PatternReduce};
pub use heads::{ClassifierOutput, SequenceClassifier, SesameConfig, Targets};
pub use localness::LocalnessConfig;
pub use se::{Aggregation, LayerAggregationConfig, SeConfig, SqueezeMode};

pub use blur::{BlurBoundary, BlurConfig, BlurTarget, GaussianBlur};
pub use checkpoint::{Checkpoint, LoadReport};
pub use config::BertConfig;
pub use error::{CoreError, Result};
pub use model::bert::{find_weights, BertInput, EncodedSequence};
pub use model::{AttentionMask, BertModel, BertModelOutput};
pub use tokenizer::{BertTokenizer, Encoded, EncodedBatch};
pub use variant::{AttentionConfig, AttentionVariant, ScoreNormalizer};
