//! # sesame-train
//!
//! Task data and the fine-tuning learner of sesame. For now: GLUE-style TSV reading with errors that name file
//! and line; the GLUE/HANS readers, the BERT recipe and the run directory build on it.

pub mod error;
pub mod fsio;
pub mod tsv;

pub use error::DataError;
pub use tsv::{TsvFile, TsvRecord};
