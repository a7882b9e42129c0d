//! Reading and writing files: Hugging Face checkpoints and tokenizers.

pub mod checkpoint;
pub mod host;
pub mod tokenizer;
