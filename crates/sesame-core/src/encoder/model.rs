//! [`Encoder`]: the module tree of the architecture an [`EncoderConfig`] names, and what the classifier asks
//! of it.

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::tensor::{backend::Backend, Tensor};

use super::EncoderConfig;
use crate::bert::dropout::DropoutStream;
use crate::bert::family::Family;
use crate::bert::model::{BertInput, EncodedSequence};
use crate::bert::BertModel;
use crate::deberta::DebertaV2Model;
use crate::error::Result;
use crate::fused::SesameBackend;
use crate::methods::variant::AttentionConfig;
use crate::modernbert::ModernBertModel;
use crate::nn::origin::{FreshParams, ParamOrigin};

/// The encoder of a [`crate::SequenceClassifier`]: one of the three module trees.
#[derive(Module, Debug)]
pub enum Encoder<B: Backend> {
    Bert(BertModel<B>),
    ModernBert(ModernBertModel<B>),
    DebertaV2(DebertaV2Model<B>),
}

/// [`Encoder::encode`]'s result.
pub struct EncoderOutput<B: Backend> {
    /// The hidden states as `transformers` returns them (ModernBERT's last one after `final_norm`), the
    /// attention weights when asked, and the mask.
    pub encoded: EncodedSequence<B>,
    /// What a layer aggregation (SE gate, scalar mix) combines: `H_1 … H_L`. ModernBERT's are all taken before
    /// `final_norm`, which [`Encoder::finish`] applies to their combination (docs/methods.md).
    pub layer_outputs: Vec<Tensor<B, 3>>,
}

impl<B: SesameBackend> FreshParams<B> for Encoder<B> {
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin> {
        match self {
            Self::Bert(m) => m.fresh_params(),
            Self::ModernBert(m) => m.fresh_params(),
            Self::DebertaV2(m) => m.fresh_params(),
        }
    }
}

impl<B: SesameBackend> Encoder<B> {
    /// A freshly initialised encoder of `config`'s architecture with the attention variants of `attention`.
    pub fn new(
        config: &EncoderConfig,
        attention: &AttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        Ok(match config {
            EncoderConfig::Bert(c) => Self::Bert(BertModel::new(c, attention, device)?),
            EncoderConfig::ModernBert(c) => {
                Self::ModernBert(ModernBertModel::new(c, attention, device)?)
            }
            EncoderConfig::DebertaV2(c) => {
                Self::DebertaV2(DebertaV2Model::new(c, attention, device)?)
            }
        })
    }

    /// The BERT-family model, `None` for the architectures with a tree of their own.
    pub fn as_bert(&self) -> Option<&BertModel<B>> {
        match self {
            Self::Bert(m) => Some(m),
            _ => None,
        }
    }

    /// [`as_bert`](Self::as_bert), to change its parameters.
    pub fn as_bert_mut(&mut self) -> Option<&mut BertModel<B>> {
        match self {
            Self::Bert(m) => Some(m),
            _ => None,
        }
    }

    /// The architecture, as its config states it.
    pub fn config(&self) -> EncoderConfig {
        match self {
            Self::Bert(m) => EncoderConfig::Bert(m.config().clone()),
            Self::ModernBert(m) => EncoderConfig::ModernBert(m.config().clone()),
            Self::DebertaV2(m) => EncoderConfig::DebertaV2(m.config().clone()),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Self::Bert(m) => m.config().family(),
            Self::ModernBert(_) => Family::ModernBert,
            Self::DebertaV2(_) => Family::DebertaV2,
        }
    }

    pub fn attention_config(&self) -> &AttentionConfig {
        match self {
            Self::Bert(m) => m.attention_config(),
            Self::ModernBert(m) => m.attention_config(),
            Self::DebertaV2(m) => m.attention_config(),
        }
    }

    /// The random stream of every dropout layer of the encoder (and of the head built with it).
    pub fn dropout_stream(&self) -> &DropoutStream {
        match self {
            Self::Bert(m) => m.dropout_stream(),
            Self::ModernBert(m) => m.dropout_stream(),
            Self::DebertaV2(m) => m.dropout_stream(),
        }
    }

    /// Parameters in embedding tables (not counted in `transformers`' FLOP estimate).
    pub fn table_params(&self) -> usize {
        match self {
            Self::Bert(m) => m.embeddings.table_params(),
            Self::ModernBert(m) => m.embeddings.tok_embeddings.num_params(),
            Self::DebertaV2(m) => {
                let e = &m.embeddings;
                e.word_embeddings.num_params()
                    + e.position_embeddings.as_ref().map_or(0, |t| t.num_params())
                    + e.token_type_embeddings
                        .as_ref()
                        .map_or(0, |t| t.num_params())
            }
        }
    }

    /// Runs the encoder on a batch. ModernBERT ignores token types; DeBERTa reads them only where its config
    /// has token-type embeddings.
    pub fn encode(&self, input: BertInput<B>, output_attentions: bool) -> Result<EncoderOutput<B>> {
        match self {
            Self::Bert(m) => {
                let encoded = m.encode(input, output_attentions)?;
                let layer_outputs = encoded.layer_outputs().to_vec();
                Ok(EncoderOutput {
                    encoded,
                    layer_outputs,
                })
            }
            Self::ModernBert(m) => {
                let out = m.encode(input.input_ids, input.attention_mask, output_attentions)?;
                let states = &out.encoded.hidden_states;
                let mut layer_outputs = states[1..states.len() - 1].to_vec();
                layer_outputs.push(out.last_layer_output);
                Ok(EncoderOutput {
                    encoded: out.encoded,
                    layer_outputs,
                })
            }
            Self::DebertaV2(m) => {
                let types = m
                    .config()
                    .type_vocab_size
                    .gt(&0)
                    .then_some(input.token_type_ids);
                let encoded = m.encode(
                    input.input_ids,
                    types,
                    input.attention_mask,
                    output_attentions,
                )?;
                let layer_outputs = encoded.layer_outputs().to_vec();
                Ok(EncoderOutput {
                    encoded,
                    layer_outputs,
                })
            }
        }
    }

    /// What the head reads from a combination of [`EncoderOutput::layer_outputs`]: ModernBERT's `final_norm`
    /// of it, the others' as it is.
    pub fn finish(&self, sequence: Tensor<B, 3>) -> Tensor<B, 3> {
        match self {
            Self::ModernBert(m) => m.final_norm(sequence),
            _ => sequence,
        }
    }
}
