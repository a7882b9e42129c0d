//! Reading Hugging Face `model.safetensors` files into named float tensors.
//!
//! Parameters may be stored as F32, F16 or BF16; they are converted to `f32` here and to the backend's float
//! type when a tensor is created. Checkpoints of `BertFor*` heads prefix the encoder with `bert.`; the prefix
//! is detected and stripped so that keys match the module tree of [`crate::BertModel`] 1:1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::tensor::{backend::Backend, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use crate::error::{CoreError, Result};

/// One tensor of a checkpoint, converted to `f32` (or kept as integers for index buffers).
#[derive(Debug, Clone)]
pub enum StoredTensor {
    /// A floating-point tensor, converted to f32, row-major.
    Float { shape: Vec<usize>, data: Vec<f32> },
    /// An integer buffer such as `embeddings.position_ids`; never a parameter.
    Int { shape: Vec<usize> },
    /// A dtype sesame does not read (kept so that asking for it gives a precise error).
    Unsupported { shape: Vec<usize>, dtype: String },
}

impl StoredTensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            StoredTensor::Float { shape, .. }
            | StoredTensor::Int { shape }
            | StoredTensor::Unsupported { shape, .. } => shape,
        }
    }
}

/// What loading a checkpoint into a model found, as `transformers` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Parameters of the model the checkpoint lacks (they keep their fresh initialisation).
    pub missing: Vec<String>,
    /// Tensors of the checkpoint the model has no place for (e.g. `cls.*` pre-training heads).
    pub unexpected: Vec<String>,
    /// The prefix stripped from the checkpoint's keys (`"bert."` for `BertFor*` checkpoints, else empty).
    pub stripped_prefix: String,
}

/// The tensors of one safetensors file, keyed by name with any `bert.` prefix removed.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
    tensors: BTreeMap<String, StoredTensor>,
    stripped_prefix: String,
    metadata: BTreeMap<String, String>,
}

/// The prefix `BertFor*` checkpoints put in front of encoder keys.
pub const BERT_PREFIX: &str = "bert.";

/// Integer buffers of Hugging Face BERT checkpoints that are not parameters and are never "unexpected".
const BUFFERS: [&str; 2] = ["embeddings.position_ids", "embeddings.token_type_ids"];

impl Checkpoint {
    /// Reads a whole safetensors file. A truncated or corrupt file is an error naming the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
        Self::from_bytes(path, &bytes)
    }

    /// Parses the bytes of a safetensors file; `path` is used in messages only.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |message: String| CoreError::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("unreadable header ({e})")))?;
        let metadata = meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();

        let names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
        let has_prefix = names.iter().any(|n| n.starts_with(BERT_PREFIX));
        let stripped_prefix = if has_prefix { BERT_PREFIX } else { "" }.to_string();

        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            let shape = view.shape().to_vec();
            let stored = match view.dtype() {
                Dtype::F32 => StoredTensor::Float {
                    data: view
                        .data()
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                    shape,
                },
                Dtype::F16 => StoredTensor::Float {
                    data: view
                        .data()
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect(),
                    shape,
                },
                Dtype::BF16 => StoredTensor::Float {
                    data: view
                        .data()
                        .chunks_exact(2)
                        .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect(),
                    shape,
                },
                Dtype::I64 | Dtype::I32 => StoredTensor::Int { shape },
                other => StoredTensor::Unsupported {
                    shape,
                    dtype: format!("{other:?}"),
                },
            };
            let key = name.strip_prefix(stripped_prefix.as_str()).unwrap_or(name);
            tensors.insert(key.to_string(), stored);
        }
        Ok(Checkpoint {
            path: path.to_path_buf(),
            tensors,
            stripped_prefix,
            metadata,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `__metadata__` map of the file header.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Names of all tensors (prefix stripped).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&StoredTensor> {
        self.tensors.get(key)
    }

    /// Adds the tensors of `other` (e.g. a sesame side file next to `model.safetensors`). A key present in
    /// both is an error: the two files must not disagree silently.
    pub fn merge(&mut self, other: Checkpoint) -> Result<()> {
        for (key, tensor) in other.tensors {
            if self.tensors.contains_key(&key) {
                return Err(CoreError::Checkpoint {
                    path: other.path.clone(),
                    message: format!("tensor `{key}` is also in {}", self.path.display()),
                });
            }
            self.tensors.insert(key, tensor);
        }
        Ok(())
    }

    /// The prefix that was stripped from the keys.
    pub fn stripped_prefix(&self) -> &str {
        &self.stripped_prefix
    }
}

/// Hands checkpoint tensors to modules by name and keeps the books for the [`LoadReport`].
///
/// Modules ask for each of their parameters with [`ParamLoader::float`]; a missing key is recorded and
/// answered with `None` (the module keeps its fresh initialisation), a shape mismatch is an error.
pub struct ParamLoader<'a, B: Backend> {
    checkpoint: &'a Checkpoint,
    device: B::Device,
    used: BTreeSet<String>,
    missing: Vec<String>,
}

impl<'a, B: Backend> ParamLoader<'a, B> {
    pub fn new(checkpoint: &'a Checkpoint, device: &B::Device) -> Self {
        ParamLoader {
            checkpoint,
            device: device.clone(),
            used: BTreeSet::new(),
            missing: Vec::new(),
        }
    }

    /// The tensor `key` with the given shape, or `None` (recorded as missing) when the checkpoint lacks it.
    pub fn float<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
    ) -> Result<Option<Tensor<B, D>>> {
        let Some(stored) = self.checkpoint.get(key) else {
            self.missing.push(key.to_string());
            return Ok(None);
        };
        self.used.insert(key.to_string());
        let path = self.checkpoint.path().to_path_buf();
        match stored {
            StoredTensor::Float { shape: found, data } => {
                if found.as_slice() != shape.as_slice() {
                    return Err(CoreError::ShapeMismatch {
                        path,
                        key: key.to_string(),
                        expected: shape.to_vec(),
                        found: found.clone(),
                    });
                }
                let data = TensorData::new(data.clone(), shape);
                Ok(Some(Tensor::from_data(data, &self.device)))
            }
            StoredTensor::Int { .. } => Err(CoreError::UnsupportedDtype {
                path,
                key: key.to_string(),
                dtype: "integer".into(),
            }),
            StoredTensor::Unsupported { dtype, .. } => Err(CoreError::UnsupportedDtype {
                path,
                key: key.to_string(),
                dtype: dtype.clone(),
            }),
        }
    }

    /// Like [`ParamLoader::float`] for parameters that a pretrained checkpoint does not have (heads, gates,
    /// variant parameters): absence is not recorded as missing.
    pub fn optional_float<const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
    ) -> Result<Option<Tensor<B, D>>> {
        if self.checkpoint.get(key).is_none() {
            return Ok(None);
        }
        self.float(key, shape)
    }

    /// Like [`ParamLoader::float`] for a Hugging Face `nn.Linear` weight `[out, in]`, returned transposed to
    /// burn's `[in, out]` layout.
    pub fn linear_weight(
        &mut self,
        key: &str,
        d_in: usize,
        d_out: usize,
    ) -> Result<Option<Tensor<B, 2>>> {
        Ok(self.float(key, [d_out, d_in])?.map(|w| w.transpose()))
    }

    /// Closes the books: which model parameters were missing and which tensors went unused.
    pub fn finish(self) -> LoadReport {
        let unexpected = self
            .checkpoint
            .keys()
            .filter(|k| !self.used.contains(*k) && !BUFFERS.contains(k))
            .map(str::to_owned)
            .collect();
        LoadReport {
            missing: self.missing,
            unexpected,
            stripped_prefix: self.checkpoint.stripped_prefix().to_string(),
        }
    }
}
