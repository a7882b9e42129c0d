//! The BERT module tree, mirroring `transformers`' `modeling_bert.py` so that checkpoint keys map 1:1.

pub mod attention;
pub mod bert;
pub mod embeddings;
pub mod encoder;
pub mod layer;
pub mod mask;
pub mod nn;
pub mod pooler;

pub use attention::{scaled_dot_product, BertAttention, BertSelfAttention, BertSelfOutput};
pub use bert::{BertModel, BertModelOutput};
pub use embeddings::BertEmbeddings;
pub use encoder::{BertEncoder, EncoderOutput};
pub use layer::{BertIntermediate, BertLayer, BertOutput};
pub use mask::AttentionMask;
pub use pooler::BertPooler;
