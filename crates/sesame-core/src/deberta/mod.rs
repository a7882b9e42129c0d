//! DeBERTa-v2 and -v3 (He et al., 2021, 2023): BERT's post-norm layers with disentangled attention, whose
//! scores add content-to-position and position-to-content terms over log-bucketed relative distances, as
//! `transformers` 5.17's `DebertaV2Model` and `DebertaV2ForSequenceClassification` compute them. Every attention
//! variant of sesame plugs in at the same seams as in BERT's attention.

pub mod attention;
pub mod config;
pub mod head;
pub mod model;
pub mod relative;

pub use config::{DebertaV2Config, PositionTerms};
pub use head::DebertaV2ClassifierHead;
pub use model::DebertaV2Model;
