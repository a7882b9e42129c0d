//! `ModernBertModel`: token embeddings → norm → pre-norm layers (global and sliding-window attention with RoPE,
//! GeGLU) → `final_norm`, as `transformers`' `ModernBertModel` computes it with eager attention (keys
//! `embeddings.*`, `layers.N.*`, `final_norm.*`). The unpadded flash-attention path of `transformers` is a
//! faster way to compute the same function; the padded computation here is that function.

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::{backend::Backend, Int, Tensor};

use super::config::{LayerType, ModernBertConfig};
use super::layer::{norm, LayerContext, ModernBertEncoderLayer};
use super::rope::{rope_tables, window_bias};
use crate::bert::dropout::{Dropout, DropoutStream, MaskSource};
use crate::bert::model::EncodedSequence;
use crate::error::{CoreError, Result};
use crate::fused::{layer_norm, SesameBackend};
use crate::methods::variant::AttentionConfig;
use crate::nn::embedding;
use crate::nn::mask::AttentionMask;
use crate::nn::origin::{FreshParams, ParamOrigin};

/// Mirrors `ModernBertEmbeddings` (keys `embeddings.tok_embeddings`, `embeddings.norm`): no positions (RoPE
/// is applied in attention) and no token types.
#[derive(Module, Debug)]
pub struct ModernBertEmbeddings<B: Backend> {
    pub tok_embeddings: Embedding<B>,
    pub norm: LayerNorm<B>,
    pub drop: Dropout,
}

/// Mirrors `ModernBertModel`.
#[derive(Module, Debug)]
pub struct ModernBertModel<B: Backend> {
    pub embeddings: ModernBertEmbeddings<B>,
    pub layers: Vec<ModernBertEncoderLayer<B>>,
    pub final_norm: LayerNorm<B>,
    #[module(skip)]
    config: ModernBertConfig,
    #[module(skip)]
    attention: AttentionConfig,
    dropout_stream: DropoutStream,
}

/// [`ModernBertModel::encode`]'s result. `encoded.hidden_states` are what `transformers` returns: the
/// embedding output, each layer's output before `final_norm`, except the last, which is `last_hidden_state`
/// (after `final_norm`). The last layer's output before it is kept too.
pub struct ModernEncoded<B: Backend> {
    pub encoded: EncodedSequence<B>,
    /// `[B, n, d]`: `final_norm` of the last layer's output.
    pub last_hidden_state: Tensor<B, 3>,
    /// `[B, n, d]`: the last layer's output before `final_norm`.
    pub last_layer_output: Tensor<B, 3>,
}

impl<B: SesameBackend> FreshParams<B> for ModernBertModel<B> {
    /// The variants' parameters inside attention (localness); the rest is the pretrained encoder.
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin> {
        self.layers.iter().flat_map(|l| l.fresh_params()).collect()
    }
}

impl<B: SesameBackend> ModernBertModel<B> {
    /// A freshly initialised model (weights N(0, initializer_range²)).
    pub fn new(
        config: &ModernBertConfig,
        attention: &AttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let variants = attention.layer_variants(config.num_hidden_layers)?;
        let stream = DropoutStream::new(MaskSource::suited_to::<B>());
        let std = config.initializer_range;
        Ok(ModernBertModel {
            embeddings: ModernBertEmbeddings {
                tok_embeddings: embedding(config.vocab_size, config.hidden_size, std, device),
                norm: norm(config, device),
                drop: Dropout::new(config.embedding_dropout, &stream),
            },
            layers: variants
                .into_iter()
                .enumerate()
                .map(|(i, v)| ModernBertEncoderLayer::new(config, i, v, &stream, device))
                .collect(),
            final_norm: norm(config, device),
            config: config.clone(),
            attention: attention.clone(),
            dropout_stream: stream,
        })
    }

    /// `final_norm` of `[B, n, d]`.
    pub fn final_norm(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        layer_norm(hidden, &self.final_norm, self.config.norm_eps)
    }

    pub fn config(&self) -> &ModernBertConfig {
        &self.config
    }

    pub fn attention_config(&self) -> &AttentionConfig {
        &self.attention
    }

    /// The random stream of the model's dropout layers.
    pub fn dropout_stream(&self) -> &DropoutStream {
        &self.dropout_stream
    }

    /// Every hidden state (the embedding output, then each layer's output before `final_norm`), the attention
    /// weights when asked, and `last_hidden_state` after `final_norm`.
    pub fn encode(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
        output_attentions: bool,
    ) -> Result<ModernEncoded<B>> {
        let [_, n] = input_ids.dims();
        if n > self.config.max_position_embeddings {
            return Err(CoreError::Input(format!(
                "a sequence of {n} tokens is longer than max_position_embeddings = {}",
                self.config.max_position_embeddings
            )));
        }
        let device = input_ids.device();
        let mask = AttentionMask::new(attention_mask);
        let embedded = self.embeddings.drop.forward(layer_norm(
            self.embeddings.tok_embeddings.forward(input_ids),
            &self.embeddings.norm,
            self.config.norm_eps,
        ));
        let d_h = self.config.head_size();
        let full = (
            mask.bias(),
            rope_tables(n, d_h, self.config.global_rope_theta, &device),
        );
        let sliding = self
            .config
            .layer_types
            .contains(&LayerType::Sliding)
            .then(|| {
                (
                    window_bias(&mask, self.config.half_window()),
                    rope_tables(n, d_h, self.config.local_rope_theta, &device),
                )
            });
        let mut hidden_states = Vec::with_capacity(self.layers.len() + 1);
        let mut attentions = output_attentions.then(Vec::new);
        hidden_states.push(embedded.clone());
        let mut hidden = embedded;
        for (layer, kind) in self.layers.iter().zip(&self.config.layer_types) {
            let (bias, (cos, sin)) = match (kind, &sliding) {
                (LayerType::Sliding, Some(s)) => (&s.0, (&s.1 .0, &s.1 .1)),
                _ => (&full.0, (&full.1 .0, &full.1 .1)),
            };
            let cx = LayerContext {
                bias,
                cos,
                sin,
                mask: &mask,
                norm_eps: self.config.norm_eps,
            };
            let (out, probs) = layer.forward(hidden, &cx)?;
            if let Some(a) = attentions.as_mut() {
                a.push(probs);
            }
            hidden_states.push(out.clone());
            hidden = out;
        }
        let last_hidden_state = self.final_norm(hidden.clone());
        if let Some(last) = hidden_states.last_mut() {
            *last = last_hidden_state.clone();
        }
        Ok(ModernEncoded {
            encoded: EncodedSequence {
                hidden_states,
                attentions,
                mask,
            },
            last_hidden_state,
            last_layer_output: hidden,
        })
    }
}
