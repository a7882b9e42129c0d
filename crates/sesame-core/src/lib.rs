//! # sesame-core
//!
//! A BERT encoder for [burn](https://burn.dev), generic over `B: Backend`, that loads Hugging Face checkpoints
//! and reproduces `transformers` to float32 precision, with the attention enhancements of SesameBERT (Gaussian
//! blur, squeeze-and-excitation over layers), SSAF (sparsegen-lin attention) and attention guiding.
//!
//! - [`bert`]: the module tree of `transformers`' `modeling_bert.py` (`embeddings`,
//!   `encoder.layer.N.attention.self.query`, `pooler`) and its building blocks (config, mask, dropout).
//! - [`methods`]: the papers' methods — blur, SE and layer aggregation, sparsegen-lin, guiding losses,
//!   localness — and the per-layer attention variant that plugs them into the three seams of self-attention.
//! - [`io`]: files — checkpoints (through burn-store, Hugging Face names) and the tokenizer.
//! - [`modernbert`] and [`deberta`]: ModernBERT's and DeBERTa-v2/v3's module trees; [`encoder`]: any of the
//!   three, chosen by `config.json`'s `model_type`.
//! - [`SesameConfig`] (with its presets) and [`SequenceClassifier`]: a whole model for GLUE.

pub mod bert;
pub mod classifier;
pub mod deberta;
pub mod encoder;
pub mod error;
pub mod fused;
pub mod head;
pub mod io;
pub mod kernels;
pub mod memory;
pub mod methods;
pub mod modernbert;
pub mod nn;
pub mod ops;
pub mod rng;
pub mod sesame_config;

pub use bert::config::BertConfig;
pub use bert::family::{Family, HeadKind};
pub use bert::model::{BertInput, EncodedSequence};
pub use bert::{BertModel, BertModelOutput};
pub use classifier::{ClassifierOutput, SequenceClassifier, SequenceHead, Targets};
pub use encoder::{Encoder, EncoderConfig, EncoderOutput};
pub use error::{CoreError, Result};
pub use fused::{SesameAutodiffBackend, SesameBackend};
pub use io::load_report::{LoadReport, MissingWeights};
pub use io::tokenizer::{BertTokenizer, Encoded, EncodedBatch};
pub use io::weights::find_weights;
pub use methods::blur::{BlurBoundary, BlurConfig, BlurTarget, GaussianBlur};
pub use methods::guiding::{GuidingConfig, PatternReduce};
pub use methods::localness::LocalnessConfig;
pub use methods::se::{Aggregation, LayerAggregationConfig, SeConfig, SqueezeMode};
pub use methods::variant::{AttentionConfig, AttentionVariant, ScoreNormalizer};
pub use nn::origin::{FreshParams, ParamOrigin};
pub use nn::AttentionMask;
pub use sesame_config::{Preset, SesameConfig};
