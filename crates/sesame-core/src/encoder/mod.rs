//! Any encoder sesame reads, chosen by `config.json`'s `model_type`: the BERT family's post-LayerNorm tree
//! ([`BertModel`]), ModernBERT ([`ModernBertModel`]) or DeBERTa-v2/v3 ([`DebertaV2Model`]). The classifier, the
//! loaders and the learner hold an [`Encoder`] and its [`EncoderConfig`]; what differs between the
//! architectures (inputs, where the layer outputs are taken, the head's input) is stated here once.
//!
//! burn derives [`Module`] for an enum by adding the variant's name to each parameter's path
//! (`bert.ModernBert.layers.0…`); the name rule of `io::weights` drops such segments, so the keys stay
//! `transformers`' own.

pub mod config;
pub mod model;

pub use config::EncoderConfig;
pub use model::{Encoder, EncoderOutput};
