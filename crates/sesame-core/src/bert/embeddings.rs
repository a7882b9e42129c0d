//! `BertEmbeddings`: word + position (+ token-type) embeddings, LayerNorm, dropout.

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm};

use crate::bert::dropout::{Dropout, DropoutStream};
use burn::tensor::{backend::Backend, Int, Tensor};

use crate::bert::config::BertConfig;
use crate::error::{CoreError, Result};
use crate::nn::{embedding, layer_norm};

/// Where position ids come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionIds {
    /// `0 … n−1` for every row (BERT, ELECTRA, DistilBERT).
    FromZero,
    /// RoBERTa/XLM-R: `padding_idx + 1, padding_idx + 2, …` over the tokens that are not `padding_idx`, and
    /// `padding_idx` at padding (`create_position_ids_from_input_ids` in `transformers`).
    AfterPadding { padding_idx: i64 },
}

/// Mirrors `transformers`' `BertEmbeddings` (keys `embeddings.word_embeddings.weight`, ...); the same module
/// serves RoBERTa's, ELECTRA's (narrower, `embedding_size`) and DistilBERT's (no token types).
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    /// `None` in DistilBERT.
    pub token_type_embeddings: Option<Embedding<B>>,
    /// Hugging Face calls it `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
    pub dropout: Dropout,
    max_positions: usize,
    #[module(skip)]
    positions: PositionIds,
}

impl<B: Backend> BertEmbeddings<B> {
    /// Parameters of the embedding tables (words, positions, token types): what `transformers` leaves out of
    /// its FLOP estimate.
    pub fn table_params(&self) -> usize {
        self.word_embeddings.num_params()
            + self.position_embeddings.num_params()
            + self
                .token_type_embeddings
                .as_ref()
                .map_or(0, |t| t.num_params())
    }

    pub fn new(config: &BertConfig, stream: &DropoutStream, device: &B::Device) -> Self {
        let std = config.initializer_range;
        let d = config.embedding_width();
        let positions = if config.family().positions_after_padding() {
            PositionIds::AfterPadding {
                padding_idx: config.pad_token_id as i64,
            }
        } else {
            PositionIds::FromZero
        };
        BertEmbeddings {
            word_embeddings: embedding(config.vocab_size, d, std, device),
            position_embeddings: embedding(config.max_position_embeddings, d, std, device),
            token_type_embeddings: (config.type_vocab_size > 0)
                .then(|| embedding(config.type_vocab_size, d, std, device)),
            layer_norm: layer_norm(d, config.layer_norm_eps, device),
            dropout: Dropout::new(config.hidden_dropout_prob, stream),
            max_positions: config.max_position_embeddings,
            positions,
        }
    }

    /// `input_ids`, `token_type_ids`: `[B, n]` → embedding output `[B, n, e]` (`e` = `embedding_size`).
    pub fn forward(
        &self,
        input_ids: Tensor<B, 2, Int>,
        token_type_ids: Tensor<B, 2, Int>,
    ) -> Result<Tensor<B, 3>> {
        let [_, n] = input_ids.dims();
        let device = input_ids.device();
        let (positions, last) = match self.positions {
            // `[1, n]`: the embedding broadcasts over the batch.
            PositionIds::FromZero => (
                Tensor::<B, 1, Int>::arange(0..n as i64, &device).reshape([1, n]),
                n,
            ),
            PositionIds::AfterPadding { padding_idx } => {
                let real = input_ids.clone().not_equal_elem(padding_idx).int(); // [B, n]
                (
                    real.clone().cumsum(1) * real + padding_idx,
                    n + padding_idx as usize + 1,
                )
            }
        };
        if last > self.max_positions {
            return Err(CoreError::Input(format!(
                "sequence length {n} needs {last} positions, more than max_position_embeddings {}",
                self.max_positions
            )));
        }
        let words = self.word_embeddings.forward(input_ids);
        let pos = self.position_embeddings.forward(positions);
        let x = match &self.token_type_embeddings {
            Some(types) => words + types.forward(token_type_ids) + pos,
            None => words + pos,
        };
        let x = self.layer_norm.forward(x);
        Ok(self.dropout.forward(x))
    }
}
