//! The BERT module tree, mirroring `transformers`' `modeling_bert.py` so that checkpoint keys map 1:1 (the
//! few names that differ are mapped in one place, `io::weights`), and its building blocks.

pub mod attention;
pub mod config;
pub(crate) mod config_shared;
pub mod dropout;
pub mod embeddings;
pub mod encoder;
pub mod family;
pub mod layer;
pub mod model;
pub mod pooler;

pub use attention::{
    scaled_dot_product, BertAttention, BertSelfAttention, BertSelfOutput, DenseResidualNorm,
};
pub use embeddings::BertEmbeddings;
pub use encoder::{BertEncoder, EncoderOutput};
pub use family::{Family, HeadKind};
pub use layer::{BertIntermediate, BertLayer, BertOutput};
pub use model::{BertModel, BertModelOutput};
pub use pooler::BertPooler;
