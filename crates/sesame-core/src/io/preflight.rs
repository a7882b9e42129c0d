//! What a checkpoint's files prove about a model before any tensor is allocated.
//!
//! A `config.json` is a promise the weights file has to keep: a typo, a truncated download or a hostile file
//! could otherwise ask for terabytes (`hidden_size: 4000000000`) or a million layers, and building the model
//! from the config alone would abort the process inside the allocator. [`check_config_against_files`] reads only
//! the safetensors headers (a few kilobytes) and compares every size the config implies with the shapes the
//! file has, so a disagreement is an error naming the config field, its value and the file's tensor.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::bert::config::BertConfig;
use crate::bert::family::Family;
use crate::encoder::EncoderConfig;
use crate::error::{CoreError, Result};
use crate::memory;

/// The largest header the safetensors format allows (its own reader's limit).
const MAX_HEADER: u64 = 100_000_000;

/// The most layers a config may ask for when its weights files hold none to count against: the deepest
/// released encoders of the families (XLM-R XXL) have 48.
const MAX_UNBACKED_LAYERS: usize = 48;

/// Tensor shapes by key, as one safetensors file's header states them.
pub type HeaderShapes = BTreeMap<String, Vec<u64>>;

/// The tensor shapes in the header of safetensors file `path`, without reading its data.
pub fn read_header_shapes(path: &Path) -> Result<HeaderShapes> {
    let bad = |message: String| CoreError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let file_len = file.metadata().map_err(|e| CoreError::io(path, e))?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes).map_err(|_| {
        bad("not a readable safetensors file (shorter than its 8-byte header length)".into())
    })?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER || header_len > file_len.saturating_sub(8) {
        return Err(bad(format!(
            "not a readable safetensors file (its header claims {header_len} bytes of a {file_len}-byte file)"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| bad(format!("header unreadable ({e})")))?;
    let parsed: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("not a readable safetensors file (header: {e})")))?;
    parsed
        .into_iter()
        .filter(|(key, _)| key != "__metadata__")
        .map(|(key, entry)| {
            let shape = entry["shape"]
                .as_array()
                .and_then(|dims| dims.iter().map(serde_json::Value::as_u64).collect());
            match shape {
                Some(shape) => Ok((key, shape)),
                None => Err(bad(format!(
                    "tensor `{key}` has no readable shape in the header"
                ))),
            }
        })
        .collect()
}

/// One tensor a config implies: its key in BERT's naming (with the encoder prefix) and, per dimension, the
/// config field that sets it with that field's value.
struct Implied {
    bert_key: String,
    dims: Vec<(&'static str, usize)>,
}

/// The tensors whose shapes carry every size field of `config`: the embedding tables (vocabulary, positions,
/// token types, embedding width), ELECTRA's projection, and the first layer's query and FFN weights (hidden
/// size, intermediate size), in the file's `[out, in]` order.
fn implied_tensors(config: &BertConfig) -> Vec<Implied> {
    let width = ("embedding_size", config.embedding_width());
    let width = if config.embedding_size.is_none() {
        ("hidden_size", width.1)
    } else {
        width
    };
    let hidden = ("hidden_size", config.hidden_size);
    let mut implied = vec![
        Implied {
            bert_key: "bert.embeddings.word_embeddings.weight".into(),
            dims: vec![("vocab_size", config.vocab_size), width],
        },
        Implied {
            bert_key: "bert.embeddings.position_embeddings.weight".into(),
            dims: vec![
                ("max_position_embeddings", config.max_position_embeddings),
                width,
            ],
        },
        Implied {
            bert_key: "bert.encoder.layer.0.attention.self.query.weight".into(),
            dims: vec![hidden, hidden],
        },
        Implied {
            bert_key: "bert.encoder.layer.0.intermediate.dense.weight".into(),
            dims: vec![("intermediate_size", config.intermediate_size), hidden],
        },
    ];
    if config.family().has_token_types() {
        implied.push(Implied {
            bert_key: "bert.embeddings.token_type_embeddings.weight".into(),
            dims: vec![("type_vocab_size", config.type_vocab_size), width],
        });
    }
    if config.embedding_width() != config.hidden_size {
        implied.push(Implied {
            bert_key: "bert.embeddings_project.weight".into(),
            dims: vec![hidden, width],
        });
    }
    implied
}

/// The shape of the family key `bert_key` (BERT naming, encoder-prefixed) in `files`, with the file and the
/// key as the file spells it (with or without the encoder prefix).
fn find<'a>(
    files: &'a [(PathBuf, HeaderShapes)],
    family: Family,
    bert_key: &str,
) -> Option<(&'a Path, String, &'a [u64])> {
    let prefixed = family.rename(bert_key);
    let bare = prefixed
        .strip_prefix(family.prefix())
        .and_then(|k| k.strip_prefix('.'))
        .unwrap_or(&prefixed)
        .to_string();
    files.iter().find_map(|(path, shapes)| {
        [&prefixed, &bare].into_iter().find_map(|key| {
            shapes
                .get(key.as_str())
                .map(|shape| (path.as_path(), key.clone(), shape.as_slice()))
        })
    })
}

/// How many consecutive layers, from 0, `files` hold (counted by their query weights).
fn layers_in_files(files: &[(PathBuf, HeaderShapes)], family: Family, wanted: usize) -> usize {
    (0..wanted)
        .find(|i| {
            let key = format!("bert.encoder.layer.{i}.attention.self.query.weight");
            find(files, family, &key).is_none()
        })
        .unwrap_or(wanted)
}

/// Checks every size `config` (read from `config_path`) implies against the safetensors headers of `files`: a
/// tensor of another shape, or fewer layers than `num_hidden_layers`, is an error naming the field, its value
/// and the file's tensor. Other tensors absent from every file prove nothing here (the load reports them as
/// missing); the layers must all be there, or, in files without any layer, be at most `MAX_UNBACKED_LAYERS`.
pub fn check_config_against_files(
    config: &BertConfig,
    config_path: &Path,
    files: &[PathBuf],
) -> Result<()> {
    let headers: Vec<(PathBuf, HeaderShapes)> = files
        .iter()
        .map(|f| read_header_shapes(f).map(|h| (f.clone(), h)))
        .collect::<Result<_>>()?;
    let family = config.family();
    let disagree = |field: &'static str, value: usize, found: String| CoreError::ConfigDisagrees {
        config: config_path.to_path_buf(),
        field: config.field_name(field).to_string(),
        value,
        found,
    };
    for implied in implied_tensors(config) {
        let Some((file, key, shape)) = find(&headers, family, &implied.bert_key) else {
            continue;
        };
        let found = || format!("{} holds `{key}` with shape {shape:?}", file.display());
        if shape.len() != implied.dims.len() {
            let (field, value) = implied.dims[0];
            return Err(disagree(field, value, found()));
        }
        for (&(field, value), &dim) in implied.dims.iter().zip(shape) {
            if value as u64 != dim {
                return Err(disagree(field, value, found()));
            }
        }
    }
    let layers = layers_in_files(&headers, family, config.num_hidden_layers);
    // A file with no layer at all is another architecture's or a partial one (the load then names what is
    // missing); its count cannot be checked, only bounded.
    let unbacked = layers == 0 && config.num_hidden_layers <= MAX_UNBACKED_LAYERS;
    if layers < config.num_hidden_layers && !unbacked {
        let names: Vec<String> = headers
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        let held = match layers {
            0 => "no layer".to_string(),
            n => format!("layers 0-{} only", n - 1),
        };
        let verb = if names.len() == 1 { "holds" } else { "hold" };
        return Err(disagree(
            "num_hidden_layers",
            config.num_hidden_layers,
            format!("{} {verb} {held}", names.join(", ")),
        ));
    }
    Ok(())
}

/// The bytes `files` take on disk (the loader reads each whole).
pub fn files_len(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Everything to check before a model of `config` (read from `config_path`) with a head of `labels` outputs is
/// built to receive `files`: the sizes of a BERT-family config against the files' headers (ModernBERT and
/// DeBERTa find shape disagreements when the tensors are applied, before any is copied), then the weights and the
/// files' bytes (the loader holds both for a moment) against the memory limit.
pub fn check_before_loading(
    config: &EncoderConfig,
    config_path: &Path,
    files: &[PathBuf],
    labels: usize,
) -> Result<()> {
    if let Some(bert) = config.as_bert() {
        check_config_against_files(bert, config_path, files)?;
    }
    let needed = config.model_size(labels).weight_bytes() + u128::from(files_len(files));
    let dir = config_path.parent().unwrap_or(config_path);
    memory::require(needed, &format!("loading the model in {}", dir.display()))
}
