//! Feature extraction: a TSV of sentences or pairs → every hidden state and the pooler output, written as
//! safetensors (`sesame encode`).

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use sesame_core::ops::host::to_host;
use sesame_core::SesameBackend;
use sesame_core::{BertTokenizer, Encoded, EncodedBatch, Encoder, SequenceClassifier};
use sesame_train::TsvFile;

use crate::error::SesameError;

/// One input row: a sentence, or a pair.
pub type TextPair = (String, Option<String>);

/// Reads a TSV with a header and one (`sentence1`) or two (`sentence1\tsentence2`) text columns; with
/// `columns`, picks those columns by header name from a wider file (e.g. GLUE's `sentence1,sentence2`).
pub fn read_texts(path: &Path, columns: Option<&[String]>) -> Result<Vec<TextPair>, SesameError> {
    let file = TsvFile::read(path)?;
    let input_error = |message: String| SesameError::Input {
        path: path.to_path_buf(),
        message,
    };
    let picked: Vec<usize> = match columns {
        Some(names) => names
            .iter()
            .map(|name| {
                file.header.iter().position(|h| h == name).ok_or_else(|| {
                    input_error(format!(
                        "line 1: no column `{name}` in the header ({})",
                        file.header.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        None => (0..file.header.len()).collect(),
    };
    if !(1..=2).contains(&picked.len()) {
        return Err(input_error(format!(
            "line 1: expected a header with one or two text columns, found {} columns \
             (pick them with --text-columns)",
            picked.len()
        )));
    }
    Ok(file
        .records
        .into_iter()
        .map(|r| {
            let first = r.fields[picked[0]].clone();
            (first, picked.get(1).map(|&i| r.fields[i].clone()))
        })
        .collect())
}

/// Encoder outputs for a whole file, every row padded to the file's longest encoding (Hugging Face's
/// `padding="longest"` over the file).
#[derive(Debug, Clone)]
pub struct FileEncoding {
    pub batch: EncodedBatch,
    /// `L + 1` tensors `[rows, seq_len, hidden]`, row-major.
    pub hidden_states: Vec<Vec<f32>>,
    /// `[rows, hidden]`; `None` for a family without a pooler.
    pub pooler_output: Option<Vec<f32>>,
    /// `[rows, num_labels]`, when the checkpoint has a classification head.
    pub logits: Option<(usize, Vec<f32>)>,
    pub hidden_size: usize,
}

/// Tokenises `texts`, runs the model (and the checkpoint's classifier, when given) in batches of `batch_size`
/// and gathers the outputs on the host. `progress` is called with the number of rows finished after each batch.
pub fn encode_texts<B: SesameBackend>(
    model: &Encoder<B>,
    classifier: Option<&SequenceClassifier<B>>,
    tokenizer: &BertTokenizer,
    texts: &[TextPair],
    batch_size: usize,
    device: &B::Device,
    mut progress: impl FnMut(usize),
) -> Result<FileEncoding, SesameError> {
    let encoded = texts
        .iter()
        .map(|(a, b)| tokenizer.encode(a, b.as_deref()))
        .collect::<Result<Vec<Encoded>, _>>()?;
    let seq_len = encoded.iter().map(Encoded::len).max().unwrap_or(0);
    let config = model.config();
    let full = EncodedBatch::pad(&encoded, tokenizer.pad_id(), seq_len);
    full.check_vocab(config.vocab_size(), config.token_types())?;

    let layers = config.num_hidden_layers() + 1;
    let d = config.hidden_size();
    let mut hidden_states = vec![Vec::with_capacity(encoded.len() * seq_len * d); layers];
    let pooler = model.as_bert().and_then(|bert| bert.pooler.as_ref());
    let mut pooler_output = pooler.map(|_| Vec::with_capacity(encoded.len() * d));
    let mut logits = classifier.map(|c| (c.config().num_labels, Vec::new()));
    let mut done = 0;
    for chunk in encoded.chunks(batch_size.max(1)) {
        let batch = EncodedBatch::pad(chunk, tokenizer.pad_id(), seq_len);
        if let (Some(classifier), Some((_, store))) = (classifier, logits.as_mut()) {
            store.extend(to_host(classifier.forward(batch.to_input(device))?.logits)?);
        }
        let out = model.encode(batch.to_input(device), false)?.encoded;
        if let (Some(store), Some(pooler)) = (pooler_output.as_mut(), pooler) {
            store.extend(to_host(pooler.forward(out.last_hidden_state()))?);
        }
        for (store, h) in hidden_states.iter_mut().zip(out.hidden_states) {
            store.extend(to_host(h)?);
        }
        done += chunk.len();
        progress(done);
    }
    Ok(FileEncoding {
        batch: full,
        hidden_states,
        pooler_output,
        logits,
        hidden_size: d,
    })
}

/// Writes `input_ids`, `token_type_ids`, `attention_mask` (I64), `hidden_states.0..L` and `pooler_output`
/// (F32) to a safetensors file, atomically.
pub fn write_encoding(
    encoding: &FileEncoding,
    metadata: HashMap<String, String>,
    path: &Path,
) -> Result<(), SesameError> {
    let rows = encoding.batch.batch_size;
    let n = encoding.batch.seq_len;
    let d = encoding.hidden_size;
    let bytes_i64 = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let bytes_f32 = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = vec![
        (
            "input_ids".into(),
            Dtype::I64,
            vec![rows, n],
            bytes_i64(&encoding.batch.input_ids),
        ),
        (
            "token_type_ids".into(),
            Dtype::I64,
            vec![rows, n],
            bytes_i64(&encoding.batch.token_type_ids),
        ),
        (
            "attention_mask".into(),
            Dtype::I64,
            vec![rows, n],
            bytes_i64(&encoding.batch.attention_mask),
        ),
    ];
    if let Some((labels, logits)) = &encoding.logits {
        owned.push((
            "logits".into(),
            Dtype::F32,
            vec![rows, *labels],
            bytes_f32(logits),
        ));
    }
    if let Some(pooled) = &encoding.pooler_output {
        owned.push((
            "pooler_output".into(),
            Dtype::F32,
            vec![rows, d],
            bytes_f32(pooled),
        ));
    }
    for (i, h) in encoding.hidden_states.iter().enumerate() {
        owned.push((
            format!("hidden_states.{i}"),
            Dtype::F32,
            vec![rows, n, d],
            bytes_f32(h),
        ));
    }
    let output_error = |message: String| SesameError::Output {
        path: path.to_path_buf(),
        message,
    };
    let views = owned
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| output_error(e.to_string()))?;
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| output_error(e.to_string()))?;
    sesame_train::fsio::write_atomic(path, &bytes)?;
    Ok(())
}
