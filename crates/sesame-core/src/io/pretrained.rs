//! Models from Hugging Face model directories: [`BertModel::from_pretrained`], [`Encoder::from_pretrained`]
//! and [`SequenceClassifier::from_pretrained`], and loading checkpoint files into a built model. Here rather than
//! beside the models so that the model tree imports nothing from the file formats (I/O sits on top of what it
//! reads into).

use std::path::{Path, PathBuf};

use crate::nn::origin::FreshParams;

use super::load_report::{LoadReport, MissingWeights};
use super::preflight::check_before_loading;
use super::weights::{find_weights, load_params};
use super::CONFIG_FILE;
use crate::bert::BertModel;
use crate::classifier::SequenceClassifier;
use crate::encoder::{Encoder, EncoderConfig};
use crate::error::Result;
use crate::fused::SesameBackend;
use crate::methods::variant::AttentionConfig;
use crate::sesame_config::SesameConfig;

impl<B: SesameBackend> BertModel<B> {
    /// Copies every tensor that `files` hold for this model into it; reports missing and unexpected keys.
    /// A shape mismatch or an unreadable dtype is an error.
    pub fn load_files(&mut self, files: &[PathBuf]) -> Result<LoadReport> {
        let family = self.config().family();
        load_params(self, family, files)
    }

    /// Reads `config.json` and `model.safetensors` from a Hugging Face model directory.
    ///
    /// A missing parameter is an error naming it, unless `missing` is [`MissingWeights::Allow`]: then it keeps
    /// its fresh initialisation and is listed in the report (as `transformers` warns).
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        attention: &AttentionConfig,
        missing: MissingWeights,
        device: &B::Device,
    ) -> Result<(Self, LoadReport)> {
        pretrained(dir.as_ref(), missing, 0, |config| match config.as_bert() {
            Some(bert) => Self::new(bert, attention, device),
            None => Err(refuse_other_architecture(config)),
        })
    }
}

impl<B: SesameBackend> Encoder<B> {
    /// The bare encoder of any supported architecture from a Hugging Face directory (`config.json`'s
    /// `model_type` chooses it), as [`BertModel::from_pretrained`] reads the BERT family's.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        attention: &AttentionConfig,
        missing: MissingWeights,
        device: &B::Device,
    ) -> Result<(Self, LoadReport)> {
        pretrained(dir.as_ref(), missing, 0, |config| {
            Self::new(config, attention, device)
        })
    }
}

impl<B: SesameBackend> SequenceClassifier<B> {
    /// Loads every tensor `files` hold for this model (encoder, head, gate, …); reports the pretrained
    /// parameters none of them had in `missing`, the fresh ones in `fresh`.
    pub fn load_files(&mut self, files: &[PathBuf]) -> Result<LoadReport> {
        let family = self.family();
        load_params(self, family, files)
    }

    /// A pretrained Hugging Face directory with a fresh head (or the head of a fine-tuned checkpoint).
    /// Every pretrained parameter must be in the checkpoint unless `missing` allows otherwise; the fresh ones
    /// (head, SE gate, localness) may be absent.
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        config: &SesameConfig,
        missing: MissingWeights,
        device: &B::Device,
    ) -> Result<(Self, LoadReport)> {
        pretrained(dir.as_ref(), missing, config.num_labels, |encoder| {
            Self::new(encoder, config, device)
        })
    }
}

/// The model `build` makes from `dir`'s `config.json`, with `dir`'s weights file loaded into it: every pretrained
/// parameter must be in the file unless `missing` allows otherwise. Nothing is allocated before the weights
/// file's header has confirmed the config's sizes and the model is known to fit in memory (with a head of
/// `labels` outputs).
fn pretrained<B: SesameBackend, M: FreshParams<B>>(
    dir: &Path,
    missing: MissingWeights,
    labels: usize,
    build: impl FnOnce(&EncoderConfig) -> Result<M>,
) -> Result<(M, LoadReport)> {
    let config_path = dir.join(CONFIG_FILE);
    let config = EncoderConfig::from_file(&config_path)?;
    let weights = find_weights(dir)?;
    check_before_loading(
        &config,
        &config_path,
        std::slice::from_ref(&weights),
        labels,
    )?;
    let mut model = build(&config)?;
    let report = load_params(&mut model, config.family(), std::slice::from_ref(&weights))?;
    report.require_pretrained(&weights, missing)?;
    Ok((model, report))
}

/// [`BertModel`] reads the BERT family only; the error says what reads the other architectures.
fn refuse_other_architecture(config: &EncoderConfig) -> crate::error::CoreError {
    crate::error::CoreError::Input(format!(
        "model_type `{}` is not a BERT-family model: BertModel cannot hold it (SequenceClassifier can)",
        config.family()
    ))
}
