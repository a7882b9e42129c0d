//! `BertModel`: embeddings → encoder → pooler, as `transformers.BertModel` (and RoBERTa's, ELECTRA's and
//! DistilBERT's encoders, which differ from it only in what [`crate::Family`] states).

use crate::fused::SesameBackend;

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Int, Tensor};

use super::embeddings::BertEmbeddings;
use super::encoder::BertEncoder;
use super::pooler::BertPooler;
use crate::bert::config::BertConfig;
use crate::bert::dropout::{DropoutStream, MaskSource};
use crate::error::Result;
use crate::methods::variant::AttentionConfig;
use crate::nn::mask::AttentionMask;
use crate::nn::origin::{FreshParams, ParamOrigin};
use crate::nn::{linear, linear_tokens};

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
    /// `[B, d]`: the pooler applied to the last layer's [CLS] vector; `None` for a family without a pooler.
    pub pooler_output: Option<Tensor<B, 2>>,
    /// Per layer `[B, H, n, n]` (before attention dropout), when requested.
    pub attentions: Option<Vec<Tensor<B, 4>>>,
    /// The mask the model built from the input, for heads and losses that need it.
    pub mask: AttentionMask<B>,
}

impl<B: SesameBackend> BertModelOutput<B> {
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

impl<B: SesameBackend> EncodedSequence<B> {
    /// The last layer's output `[B, n, d]`.
    pub fn last_hidden_state(&self) -> Tensor<B, 3> {
        self.hidden_states[self.hidden_states.len() - 1].clone()
    }

    /// `H_1 … H_L`, without the embedding output.
    pub fn layer_outputs(&self) -> &[Tensor<B, 3>] {
        &self.hidden_states[1..]
    }
}

/// Mirrors `transformers.BertModel` (keys `embeddings.*`, `encoder.layer.N.*`, `pooler.*`; ELECTRA's
/// `embeddings_project.*`; DistilBERT's names through [`crate::Family::rename`]).
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    /// ELECTRA: `embedding_size` → `hidden_size`, when they differ.
    pub embeddings_project: Option<Linear<B>>,
    pub encoder: BertEncoder<B>,
    /// BERT only.
    pub pooler: Option<BertPooler<B>>,
    config: BertConfig,
    attention: AttentionConfig,
    /// The random stream of every dropout layer of the model.
    dropout_stream: DropoutStream,
}

impl<B: SesameBackend> FreshParams<B> for BertModel<B> {
    /// The variants' parameters inside attention (localness); the rest is the pretrained encoder.
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin> {
        self.encoder
            .layer
            .iter()
            .flat_map(|layer| layer.attention.self_attention.fresh_params())
            .collect()
    }
}

impl<B: SesameBackend> BertModel<B> {
    /// A freshly initialised model (weights N(0, initializer_range²), as `transformers` initialises).
    pub fn new(
        config: &BertConfig,
        attention: &AttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate()?;
        let variants = attention.layer_variants(config.num_hidden_layers)?;
        let stream = DropoutStream::new(MaskSource::suited_to::<B>());
        let projected = config.embedding_width() != config.hidden_size;
        Ok(BertModel {
            embeddings: BertEmbeddings::new(config, &stream, device),
            embeddings_project: projected.then(|| {
                linear(
                    config.embedding_width(),
                    config.hidden_size,
                    config.initializer_range,
                    device,
                )
            }),
            encoder: BertEncoder::new(config, &variants, &stream, device),
            pooler: config
                .family()
                .has_pooler()
                .then(|| BertPooler::new(config, device)),
            config: config.clone(),
            attention: attention.clone(),
            dropout_stream: stream,
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    pub fn attention_config(&self) -> &AttentionConfig {
        &self.attention
    }

    /// The random stream of the model's dropout layers (seed it, or choose where masks are drawn).
    pub fn dropout_stream(&self) -> &DropoutStream {
        &self.dropout_stream
    }

    /// Runs the encoder on a batch: every hidden state, the pooler output and optionally the attention weights.
    pub fn forward(
        &self,
        input: BertInput<B>,
        output_attentions: bool,
    ) -> Result<BertModelOutput<B>> {
        let encoded = self.encode(input, output_attentions)?;
        let pooler_output = self
            .pooler
            .as_ref()
            .map(|p| p.forward(encoded.last_hidden_state()));
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
        let embedded = match &self.embeddings_project {
            Some(project) => linear_tokens(project, embedded),
            None => embedded,
        };
        let encoded = self
            .encoder
            .forward(embedded.clone(), &mask, output_attentions)?;
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
