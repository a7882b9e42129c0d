//! Reading and writing files: Hugging Face checkpoints, model directories and tokenizers. On top of the model:
//! nothing below imports from here.

pub mod load_report;
pub mod preflight;
pub mod pretrained;
pub mod tokenizer;
pub mod weights;

/// A Hugging Face model directory's configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// A Hugging Face model directory's weights file (safetensors).
pub const WEIGHTS_FILE: &str = "model.safetensors";
