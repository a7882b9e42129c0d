//! `BertModel`: embeddings → encoder → pooler, as `transformers.BertModel`.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{backend::Backend, Int, Tensor};

use super::embeddings::BertEmbeddings;
use super::encoder::BertEncoder;
use super::mask::AttentionMask;
use super::pooler::BertPooler;
use crate::checkpoint::{Checkpoint, LoadReport, ParamLoader};
use crate::config::BertConfig;
use crate::error::{CoreError, Result};
use crate::params::ParamVisitor;
use crate::variant::AttentionConfig;

/// One tokenised batch on the device; every tensor is `[B, n]`.
#[derive(Debug, Clone)]
pub struct BertInput<B: Backend> {
    pub input_ids: Tensor<B, 2, Int>,
    pub token_type_ids: Tensor<B, 2, Int>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Tensor<B, 2, Int>,
}

/// What [`BertModel::forward`] returns, named as `transformers`' `BaseModelOutputWithPooling`.
pub struct BertModelOutput<B: Backend> {
    /// The embedding output followed by every layer's output: `L + 1` tensors `[B, n, d]`.
    pub hidden_states: Vec<Tensor<B, 3>>,
    /// `[B, d]`: the pooler applied to the last layer's [CLS] vector.
    pub pooler_output: Tensor<B, 2>,
    /// Per layer `[B, H, n, n]` (before attention dropout), when requested.
    pub attentions: Option<Vec<Tensor<B, 4>>>,
    /// The mask the model built from the input, for heads and losses that need it.
    pub mask: AttentionMask<B>,
}

impl<B: Backend> BertModelOutput<B> {
    /// The last layer's output `[B, n, d]`.
    pub fn last_hidden_state(&self) -> Tensor<B, 3> {
        self.hidden_states[self.hidden_states.len() - 1].clone()
    }
}

/// [`BertModel::encode`]'s result: hidden states (embedding output first) and optional attention weights.
pub struct EncodedSequence<B: Backend> {
    /// `L + 1` tensors `[B, n, d]`.
    pub hidden_states: Vec<Tensor<B, 3>>,
    /// Per layer `[B, H, n, n]`, when requested.
    pub attentions: Option<Vec<Tensor<B, 4>>>,
    pub mask: AttentionMask<B>,
}

impl<B: Backend> EncodedSequence<B> {
    /// The last layer's output `[B, n, d]`.
    pub fn last_hidden_state(&self) -> Tensor<B, 3> {
        self.hidden_states[self.hidden_states.len() - 1].clone()
    }

    /// `H_1 … H_L`, without the embedding output.
    pub fn layer_outputs(&self) -> &[Tensor<B, 3>] {
        &self.hidden_states[1..]
    }
}

/// Mirrors `transformers.BertModel` (keys `embeddings.*`, `encoder.layer.N.*`, `pooler.*`).
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    pub encoder: BertEncoder<B>,
    pub pooler: BertPooler<B>,
    config: BertConfig,
    attention: AttentionConfig,
}

impl<B: Backend> BertModel<B> {
    /// A freshly initialised model (weights N(0, initializer_range²), as `transformers` initialises).
    pub fn new(
        config: &BertConfig,
        attention: &AttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate().map_err(CoreError::Invalid)?;
        let variants = attention.layer_variants(config.num_hidden_layers)?;
        Ok(BertModel {
            embeddings: BertEmbeddings::new(config, device),
            encoder: BertEncoder::new(config, &variants, device),
            pooler: BertPooler::new(config, device),
            config: config.clone(),
            attention: attention.clone(),
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn attention_config(&self) -> &AttentionConfig {
        &self.attention
    }

    /// Copies every tensor the checkpoint has for this model into it; reports missing and unexpected keys.
    /// A shape mismatch or an unreadable dtype is an error.
    pub fn load_checkpoint(
        &mut self,
        checkpoint: &Checkpoint,
        device: &B::Device,
    ) -> Result<LoadReport> {
        let mut loader = ParamLoader::<B>::new(checkpoint, device);
        self.visit_params(&mut loader, "")?;
        Ok(loader.finish())
    }

    /// Visits every parameter under its Hugging Face name, prefixed by `prefix` (`""` for `BertModel`
    /// checkpoints, `"bert."` inside `BertFor*` exports).
    pub fn visit_params(&mut self, visitor: &mut dyn ParamVisitor<B>, prefix: &str) -> Result<()> {
        self.embeddings
            .visit_params(visitor, &format!("{prefix}embeddings"))?;
        self.encoder
            .visit_params(visitor, &format!("{prefix}encoder"))?;
        self.pooler
            .visit_params(visitor, &format!("{prefix}pooler"))
    }

    /// Reads `config.json` and `model.safetensors` from a Hugging Face model directory.
    ///
    /// With `strict`, any missing parameter is an error; otherwise missing parameters keep their fresh
    /// initialisation and are listed in the report (as `transformers` warns).
    pub fn from_pretrained(
        dir: impl AsRef<Path>,
        attention: &AttentionConfig,
        strict: bool,
        device: &B::Device,
    ) -> Result<(Self, LoadReport)> {
        let dir = dir.as_ref();
        let config = BertConfig::from_file(dir.join("config.json"))?;
        let checkpoint = Checkpoint::from_file(find_weights(dir)?)?;
        let mut model = Self::new(&config, attention, device)?;
        let report = model.load_checkpoint(&checkpoint, device)?;
        if strict && !report.missing.is_empty() {
            return Err(CoreError::MissingTensors {
                path: checkpoint.path().to_path_buf(),
                keys: report.missing,
            });
        }
        Ok((model, report))
    }

    /// Runs the encoder on a batch: every hidden state, the pooler output and optionally the attention weights.
    pub fn forward(
        &self,
        input: BertInput<B>,
        output_attentions: bool,
    ) -> Result<BertModelOutput<B>> {
        let encoded = self.encode(input, output_attentions)?;
        let pooler_output = self.pooler.forward(encoded.last_hidden_state());
        Ok(BertModelOutput {
            hidden_states: encoded.hidden_states,
            pooler_output,
            attentions: encoded.attentions,
            mask: encoded.mask,
        })
    }

    /// The encoder without the pooler, for heads that pool something other than the last layer.
    pub fn encode(
        &self,
        input: BertInput<B>,
        output_attentions: bool,
    ) -> Result<EncodedSequence<B>> {
        let mask = AttentionMask::new(input.attention_mask);
        let embedded = self
            .embeddings
            .forward(input.input_ids, input.token_type_ids)?;
        let encoded = self
            .encoder
            .forward(embedded.clone(), &mask, output_attentions);
        let mut hidden_states = Vec::with_capacity(encoded.layer_outputs.len() + 1);
        hidden_states.push(embedded);
        hidden_states.extend(encoded.layer_outputs);
        Ok(EncodedSequence {
            hidden_states,
            attentions: encoded.attentions,
            mask,
        })
    }
}

/// `model.safetensors` in a model directory, or a clear error saying what is there instead.
pub fn find_weights(dir: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("model.safetensors");
    if path.is_file() {
        return Ok(path);
    }
    let hint = if dir.join("pytorch_model.bin").is_file() {
        " (found pytorch_model.bin: convert it to safetensors first, sesame does not read pickles)"
    } else if !dir.is_dir() {
        " (the model directory does not exist)"
    } else {
        ""
    };
    Err(CoreError::io(
        &path,
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("no such file{hint}")),
    ))
}
