//! `DebertaV2Model`: token embeddings (+ absolute positions and token types where configured) → LayerNorm →
//! padding zeroed → post-norm layers of disentangled attention, as `transformers`' `DebertaV2Model` computes
//! it (keys `embeddings.*`, `encoder.layer.N.*`, `encoder.rel_embeddings`, `encoder.LayerNorm`).

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{backend::Backend, Int, Tensor};

use super::attention::{
    dense_residual_norm, query_and_pair_masks, AttentionContext, DebertaV2Attention,
};
use super::config::DebertaV2Config;
use super::relative::RelativeIndex;
use crate::bert::attention::DenseResidualNorm;
use crate::bert::dropout::{Dropout, DropoutStream, MaskSource};
use crate::bert::model::EncodedSequence;
use crate::error::{CoreError, Result};
use crate::fused::SesameBackend;
use crate::methods::variant::{AttentionConfig, AttentionVariant};
use crate::modernbert::config::Activation;
use crate::modernbert::layer::activate;
use crate::nn::mask::AttentionMask;
use crate::nn::origin::{all_params_as, FreshParams, ParamOrigin};
use crate::nn::{embedding, layer_norm, linear, linear_tokens, linear_with};

/// Mirrors `DebertaV2Embeddings`.
#[derive(Module, Debug)]
pub struct DebertaV2Embeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    /// Only with `position_biased_input` (DeBERTa-v3 has none).
    pub position_embeddings: Option<Embedding<B>>,
    /// Only with `type_vocab_size` > 0 (DeBERTa-v3 has none).
    pub token_type_embeddings: Option<Embedding<B>>,
    /// `embedding_size` → `hidden_size`, without a bias, when they differ.
    pub embed_proj: Option<Linear<B>>,
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
}

/// Mirrors `DebertaV2Intermediate`: dense d → d_ff and `hidden_act`.
#[derive(Module, Debug)]
pub struct DebertaV2Intermediate<B: Backend> {
    pub dense: Linear<B>,
    #[module(skip)]
    act: Activation,
}

/// Mirrors `DebertaV2Layer` (keys `encoder.layer.N.{attention,intermediate,output}.*`).
#[derive(Module, Debug)]
pub struct DebertaV2Layer<B: Backend> {
    pub attention: DebertaV2Attention<B>,
    pub intermediate: DebertaV2Intermediate<B>,
    pub output: DenseResidualNorm<B>,
}

/// Mirrors `DebertaV2Encoder` without its convolution layer (refused by the config).
#[derive(Module, Debug)]
pub struct DebertaV2Encoder<B: Backend> {
    pub layer: Vec<DebertaV2Layer<B>>,
    /// `[2k, d]`, with relative attention.
    pub rel_embeddings: Option<Embedding<B>>,
    /// Over `rel_embeddings`, when `norm_rel_ebd` names `layer_norm` (`encoder.LayerNorm`).
    pub layer_norm: Option<LayerNorm<B>>,
}

/// Mirrors `DebertaV2Model`.
#[derive(Module, Debug)]
pub struct DebertaV2Model<B: Backend> {
    pub embeddings: DebertaV2Embeddings<B>,
    pub encoder: DebertaV2Encoder<B>,
    #[module(skip)]
    config: DebertaV2Config,
    #[module(skip)]
    attention: AttentionConfig,
    dropout_stream: DropoutStream,
}

impl<B: SesameBackend> FreshParams<B> for DebertaV2Model<B> {
    /// The variants' parameters inside attention (localness); the rest is the pretrained encoder.
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin> {
        self.encoder
            .layer
            .iter()
            .flat_map(|l| l.attention.self_attention.localness.iter())
            .flat_map(|l| all_params_as(l, ParamOrigin::Variant))
            .collect()
    }
}

impl<B: SesameBackend> DebertaV2Layer<B> {
    fn new(
        config: &DebertaV2Config,
        variant: AttentionVariant,
        stream: &DropoutStream,
        device: &B::Device,
    ) -> Self {
        let (d, d_ff) = (config.hidden_size, config.intermediate_size);
        DebertaV2Layer {
            attention: DebertaV2Attention::new(config, variant, stream, device),
            intermediate: DebertaV2Intermediate {
                dense: linear(d, d_ff, config.initializer_range, device),
                act: config.hidden_act,
            },
            output: dense_residual_norm(config, d_ff, stream, device),
        }
    }

    /// `[B, n, d]` → (`[B, n, d]`, attention weights `[B, H, n, n]`).
    pub fn forward(
        &self,
        hidden: Tensor<B, 3>,
        cx: &AttentionContext<'_, B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 4>)> {
        let (attended, probs) = self.attention.forward(hidden, cx)?;
        let intermediate = activate(
            self.intermediate.act,
            linear_tokens(&self.intermediate.dense, attended.clone()),
        );
        Ok((self.output.forward(intermediate, attended), probs))
    }
}

impl<B: SesameBackend> DebertaV2Model<B> {
    /// A freshly initialised model (weights N(0, initializer_range²)).
    pub fn new(
        config: &DebertaV2Config,
        attention: &AttentionConfig,
        device: &B::Device,
    ) -> Result<Self> {
        let variants = attention.layer_variants(config.num_hidden_layers)?;
        let stream = DropoutStream::new(MaskSource::suited_to::<B>());
        let (d, e, std) = (
            config.hidden_size,
            config.embedding_size,
            config.initializer_range,
        );
        let embeddings = DebertaV2Embeddings {
            word_embeddings: embedding(config.vocab_size, e, std, device),
            position_embeddings: config
                .position_biased_input
                .then(|| embedding(config.max_position_embeddings, e, std, device)),
            token_type_embeddings: (config.type_vocab_size > 0)
                .then(|| embedding(config.type_vocab_size, e, std, device)),
            embed_proj: (e != d).then(|| linear_with(e, d, std, false, device)),
            layer_norm: layer_norm(d, config.layer_norm_eps, device),
            dropout: Dropout::new(config.hidden_dropout_prob, &stream),
        };
        let encoder = DebertaV2Encoder {
            layer: variants
                .into_iter()
                .map(|v| DebertaV2Layer::new(config, v, &stream, device))
                .collect(),
            rel_embeddings: config
                .relative_attention
                .then(|| embedding(2 * config.attention_span(), d, std, device)),
            layer_norm: (config.relative_attention && config.norm_rel_ebd)
                .then(|| layer_norm(d, config.layer_norm_eps, device)),
        };
        Ok(DebertaV2Model {
            embeddings,
            encoder,
            config: config.clone(),
            attention: attention.clone(),
            dropout_stream: stream,
        })
    }

    pub fn config(&self) -> &DebertaV2Config {
        &self.config
    }

    pub fn attention_config(&self) -> &AttentionConfig {
        &self.attention
    }

    /// The random stream of the model's dropout layers.
    pub fn dropout_stream(&self) -> &DropoutStream {
        &self.dropout_stream
    }

    /// `[B, n]` ids (and token types, used only where the model has token-type embeddings) → embeddings
    /// `[B, n, d]`, zero at padding.
    fn embed(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Option<Tensor<B, 2, Int>>,
        mask: &AttentionMask<B>,
    ) -> Tensor<B, 3> {
        let e = &self.embeddings;
        let [b, n] = input_ids.dims();
        let device = input_ids.device();
        let mut x = e.word_embeddings.forward(input_ids);
        if let Some(positions) = &e.position_embeddings {
            let ids = Tensor::<B, 1, Int>::arange(0..n as i64, &device)
                .reshape([1, n])
                .expand([b, n]);
            x = x + positions.forward(ids);
        }
        if let Some(types) = &e.token_type_embeddings {
            let ids = token_type_ids.unwrap_or_else(|| Tensor::zeros([b, n], &device));
            x = x + types.forward(ids);
        }
        if let Some(proj) = &e.embed_proj {
            x = linear_tokens(proj, x);
        }
        let x = e.layer_norm.forward(x) * mask.mask().reshape([b, n, 1]);
        e.dropout.forward(x)
    }

    /// Every hidden state as `transformers` returns them (the embedding output, then each layer's output; the
    /// last is `last_hidden_state`) and the attention weights when asked.
    pub fn encode(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Option<Tensor<B, 2, Int>>,
        attention_mask: Tensor<B, 2, Int>,
        output_attentions: bool,
    ) -> Result<EncodedSequence<B>> {
        let [_, n] = input_ids.dims();
        if self.config.position_biased_input && n > self.config.max_position_embeddings {
            return Err(CoreError::Input(format!(
                "a sequence of {n} tokens is longer than max_position_embeddings = {}",
                self.config.max_position_embeddings
            )));
        }
        let device = input_ids.device();
        let mask = AttentionMask::new(attention_mask);
        let (query_mask, pair_bias) = query_and_pair_masks(&mask);
        let relative = self.relative_tables(n, &device);
        let cx = AttentionContext {
            pair_bias: &pair_bias,
            query_mask: &query_mask,
            relative: relative.as_ref().map(|(r, i)| (r, i)),
            mask: &mask,
        };
        let mut hidden = self.embed(input_ids, token_type_ids, &mask);
        let mut hidden_states = vec![hidden.clone()];
        let mut attentions = output_attentions.then(Vec::new);
        for layer in &self.encoder.layer {
            let (out, probs) = layer.forward(hidden, &cx)?;
            if let Some(a) = attentions.as_mut() {
                a.push(probs);
            }
            hidden_states.push(out.clone());
            hidden = out;
        }
        Ok(EncodedSequence {
            hidden_states,
            attentions,
            mask,
        })
    }

    /// The relative embeddings (normalised when configured) and the table rows of `n`-token sequences.
    fn relative_tables(
        &self,
        n: usize,
        device: &B::Device,
    ) -> Option<(Tensor<B, 2>, RelativeIndex<B>)> {
        let table = self.encoder.rel_embeddings.as_ref()?.weight.val();
        let table = match &self.encoder.layer_norm {
            Some(norm) => norm.forward(table),
            None => table,
        };
        let index = RelativeIndex::new(
            n,
            self.config.attention_span(),
            self.config.position_buckets,
            self.config.max_relative_positions,
            device,
        );
        Some((table, index))
    }
}
