//! ModernBERT (Warner et al., 2024): a pre-norm encoder with rotary positions, GeGLU feed-forward layers and
//! attention that alternates between every token (global layers) and a window around each token (local
//! layers), as `transformers` 5.17's `ModernBertModel` and `ModernBertForSequenceClassification` compute it.
//! Every attention variant of sesame plugs in at the same seams as in BERT's attention.

pub mod config;
pub mod head;
pub mod layer;
pub mod model;
pub mod rope;

pub use config::{LayerType, ModernBertConfig, Pooling};
pub use head::ModernBertClassifierHead;
pub use model::{ModernBertModel, ModernEncoded};
