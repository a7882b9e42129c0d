//! Tokenisation as `transformers`' fast tokenizers do it: the pair template of the file's post-processor (BERT's
//! `[CLS] a [SEP] b [SEP]` with token types 0/1, RoBERTa's `<s> a </s></s> b </s>`), `longest_first`
//! truncation, padding to the longest sequence of a batch with the file's pad token.

use std::path::{Path, PathBuf};

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{
    EncodeInput, PaddingParams, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

use crate::bert::model::BertInput;
use crate::error::{CoreError, Result};

/// One encoded example: ids, token types and attention mask of equal length, without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
}

impl Encoded {
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }
}

/// A padded batch on the host, row-major `[batch, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    pub input_ids: Vec<i64>,
    pub token_type_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub batch_size: usize,
    pub seq_len: usize,
}

impl EncodedBatch {
    /// Pads `examples` with `pad_id` to `seq_len` (at least the longest example).
    pub fn pad(examples: &[Encoded], pad_id: u32, seq_len: usize) -> Self {
        let longest = examples.iter().map(Encoded::len).max().unwrap_or(0);
        let seq_len = seq_len.max(longest);
        let size = examples.len() * seq_len;
        let mut batch = EncodedBatch {
            input_ids: Vec::with_capacity(size),
            token_type_ids: Vec::with_capacity(size),
            attention_mask: Vec::with_capacity(size),
            batch_size: examples.len(),
            seq_len,
        };
        for e in examples {
            let pad = seq_len - e.len();
            batch
                .input_ids
                .extend(e.input_ids.iter().map(|&i| i as i64));
            batch
                .input_ids
                .extend(std::iter::repeat_n(pad_id as i64, pad));
            batch
                .token_type_ids
                .extend(e.token_type_ids.iter().map(|&i| i as i64));
            batch.token_type_ids.extend(std::iter::repeat_n(0, pad));
            batch.attention_mask.extend(std::iter::repeat_n(1, e.len()));
            batch.attention_mask.extend(std::iter::repeat_n(0, pad));
        }
        batch
    }

    /// Copies the batch to the device.
    pub fn to_input<B: Backend>(&self, device: &B::Device) -> BertInput<B> {
        let shape = [self.batch_size, self.seq_len];
        let tensor = |v: &Vec<i64>| {
            Tensor::<B, 2, Int>::from_data(TensorData::new(v.clone(), shape), device)
        };
        BertInput {
            input_ids: tensor(&self.input_ids),
            token_type_ids: tensor(&self.token_type_ids),
            attention_mask: tensor(&self.attention_mask),
        }
    }

    /// Checks the ids against a model's vocabulary sizes, so that a tokenizer/model mismatch is an error
    /// instead of an out-of-bounds gather on the device.
    pub fn check_vocab(&self, vocab_size: usize, type_vocab_size: usize) -> Result<()> {
        if let Some(&bad) = self
            .input_ids
            .iter()
            .find(|&&i| i < 0 || i as usize >= vocab_size)
        {
            return Err(CoreError::Input(format!(
                "token id {bad} is outside the model's vocabulary of {vocab_size}: tokenizer and model do not match"
            )));
        }
        if let Some(&bad) = self
            .token_type_ids
            .iter()
            .find(|&&i| i < 0 || i as usize >= type_vocab_size)
        {
            return Err(CoreError::Input(format!(
                "token type {bad} is outside the model's type_vocab_size of {type_vocab_size}"
            )));
        }
        Ok(())
    }
}

/// A BERT WordPiece tokenizer with fixed truncation and no built-in padding (sesame pads per batch).
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    pad_id: u32,
    /// Whether the model takes token types (`model_input_names` of `tokenizer_config.json`); when it does not
    /// (RoBERTa, DistilBERT), every type id is 0, as `transformers` feeds such a model.
    token_types: bool,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenizer")
            .field("path", &self.path)
            .field("pad_id", &self.pad_id)
            .field("token_types", &self.token_types)
            .finish()
    }
}

impl BertTokenizer {
    /// Loads `tokenizer.json` from a model directory, or builds the BERT pipeline from `vocab.txt` when there
    /// is no `tokenizer.json` (lower-casing unless `tokenizer_config.json` says `"do_lower_case": false`).
    pub fn from_dir(dir: impl AsRef<Path>, max_length: usize) -> Result<Self> {
        let dir = dir.as_ref();
        let json = dir.join("tokenizer.json");
        if json.is_file() {
            return Self::from_file(json, max_length);
        }
        let vocab = dir.join("vocab.txt");
        if vocab.is_file() {
            let lowercase = TokenizerSettings::beside(&vocab).do_lower_case;
            return Self::from_vocab(vocab, lowercase, max_length);
        }
        Err(CoreError::Tokenizer {
            path: dir.to_path_buf(),
            message: "neither tokenizer.json nor vocab.txt found".into(),
        })
    }

    /// Loads a Hugging Face `tokenizer.json`.
    pub fn from_file(path: impl AsRef<Path>, max_length: usize) -> Result<Self> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(CoreError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let inner = Tokenizer::from_file(path).map_err(|e| CoreError::Tokenizer {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::configure(inner, path, max_length)
    }

    /// Builds BERT's tokenizer (BertNormalizer, BertPreTokenizer, WordPiece, `[CLS] a [SEP] b [SEP]`) from a
    /// `vocab.txt`.
    pub fn from_vocab(path: impl AsRef<Path>, lowercase: bool, max_length: usize) -> Result<Self> {
        let path = path.as_ref();
        let err = |message: String| CoreError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        let file = path
            .to_str()
            .ok_or_else(|| err("path is not UTF-8".into()))?;
        let wordpiece = WordPiece::from_file(file)
            .unk_token("[UNK]".into())
            .build()
            .map_err(|e| err(e.to_string()))?;
        let id = |token: &str| {
            tokenizers::Model::token_to_id(&wordpiece, token)
                .ok_or_else(|| err(format!("vocabulary has no {token} token")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        let mut inner = Tokenizer::new(wordpiece);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(
                ("[SEP]".into(), sep),
                ("[CLS]".into(), cls),
            )));
        Self::configure(inner, path, max_length)
    }

    fn configure(mut inner: Tokenizer, path: &Path, max_length: usize) -> Result<Self> {
        let err = |message: String| CoreError::Tokenizer {
            path: path.to_path_buf(),
            message,
        };
        if max_length < 3 {
            return Err(err(format!(
                "max length {max_length} cannot hold [CLS] and two [SEP]"
            )));
        }
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| err(e.to_string()))?;
        let settings = TokenizerSettings::beside(path);
        // The pad token: the file's own padding setting, else `tokenizer_config.json`'s `pad_token`, else the
        // conventional names.
        let pad_id = match inner.get_padding() {
            Some(padding) => Some(padding.pad_id),
            None => settings
                .pad_token
                .iter()
                .map(String::as_str)
                .chain(["[PAD]", "<pad>"])
                .find_map(|token| inner.token_to_id(token)),
        }
        .ok_or_else(|| err("no pad token: neither the file nor tokenizer_config.json names one, and the vocabulary has no [PAD] or <pad>".into()))?;
        inner.with_padding(None::<PaddingParams>);
        Ok(BertTokenizer {
            inner,
            path: path.to_path_buf(),
            pad_id,
            token_types: settings.token_types,
        })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The most tokens an encoding has (truncation's `max_length`), special tokens included.
    pub fn max_len(&self) -> usize {
        self.inner
            .get_truncation()
            .map_or(usize::MAX, |t| t.max_length)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Encodes one segment, or a pair when `second` is given.
    pub fn encode(&self, first: &str, second: Option<&str>) -> Result<Encoded> {
        let input: EncodeInput = match second {
            Some(b) => (first, b).into(),
            None => first.into(),
        };
        let enc = self
            .inner
            .encode(input, true)
            .map_err(|e| CoreError::Tokenizer {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        let token_type_ids = if self.token_types {
            enc.get_type_ids().to_vec()
        } else {
            vec![0; enc.get_ids().len()]
        };
        Ok(Encoded {
            input_ids: enc.get_ids().to_vec(),
            token_type_ids,
        })
    }
}

/// The settings of `tokenizer_config.json` that change what sesame feeds the model.
struct TokenizerSettings {
    pad_token: Option<String>,
    token_types: bool,
    do_lower_case: bool,
}

impl TokenizerSettings {
    /// Read from the `tokenizer_config.json` in the folder of `path`; `transformers`' defaults where the file
    /// or a field is absent (token types on, lower-casing on as in uncased BERT).
    fn beside(path: &Path) -> Self {
        let config = path
            .parent()
            .map(|dir| dir.join("tokenizer_config.json"))
            .and_then(|file| std::fs::read_to_string(file).ok())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .unwrap_or_default();
        // `pad_token` is a string, or an `AddedToken` object with a `content` field in older files.
        let pad_token = config.get("pad_token").and_then(|t| {
            t.as_str()
                .or_else(|| t.get("content").and_then(|c| c.as_str()))
                .map(str::to_owned)
        });
        let token_types = config
            .get("model_input_names")
            .and_then(|names| names.as_array())
            .is_none_or(|names| names.iter().any(|n| n == "token_type_ids"));
        let do_lower_case = config
            .get("do_lower_case")
            .and_then(|b| b.as_bool())
            .unwrap_or(true);
        TokenizerSettings {
            pad_token,
            token_types,
            do_lower_case,
        }
    }
}
