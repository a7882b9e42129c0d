//! `BertEmbeddings`: word + position + token-type embeddings, LayerNorm, dropout.

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm};

use crate::bert::dropout::{Dropout, DropoutStream};
use burn::tensor::{backend::Backend, Int, Tensor};

use super::nn::{embedding, layer_norm};
use crate::bert::config::BertConfig;
use crate::error::{CoreError, Result};

/// Mirrors `transformers`' `BertEmbeddings` (keys `embeddings.word_embeddings.weight`, ...).
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    /// Hugging Face calls it `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
    max_positions: usize,
}

impl<B: Backend> BertEmbeddings<B> {
    pub fn new(config: &BertConfig, stream: &DropoutStream, device: &B::Device) -> Self {
        let std = config.initializer_range;
        let d = config.hidden_size;
        BertEmbeddings {
            word_embeddings: embedding(config.vocab_size, d, std, device),
            position_embeddings: embedding(config.max_position_embeddings, d, std, device),
            token_type_embeddings: embedding(config.type_vocab_size, d, std, device),
            layer_norm: layer_norm(d, config.layer_norm_eps, device),
            dropout: Dropout::new(config.hidden_dropout_prob, stream),
            max_positions: config.max_position_embeddings,
        }
    }

    /// `input_ids`, `token_type_ids`: `[B, n]` → embedding output `[B, n, d]` (positions 0..n).
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Result<Tensor<B, 3>> {
        let [_, n] = input_ids.dims();
        if n > self.max_positions {
            return Err(CoreError::Input(format!(
                "sequence length {n} exceeds max_position_embeddings {}",
                self.max_positions
            )));
        }
        let device = input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..n as i64, &device).reshape([1, n]);
        let words = self.word_embeddings.forward(input_ids);
        let types = self.token_type_embeddings.forward(token_type_ids);
        let pos = self.position_embeddings.forward(positions); // [1, n, d], broadcast over B
        let x = self.layer_norm.forward(words + types + pos);
        Ok(self.dropout.forward(x))
    }
}
