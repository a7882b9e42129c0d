//! Hugging Face `model.safetensors` files ↔ sesame modules, through burn's own store (`burn-store`).
//!
//! burn-store walks the module tree, transposes `nn.Linear` weights between PyTorch's `[out, in]` and burn's
//! `[in, out]`, renames LayerNorm γ/β ↔ `weight`/`bias` (its PyTorch adapters), checks shapes, and reports the
//! tensors it applied, could not find or did not use. What it cannot know is where sesame's field names differ
//! from Hugging Face's: [`hugging_face_name`] is that one rule (BERT's names, then the family's renames). Both directions, loading and exporting, are
//! derived from it for the module at hand ([`param_table`]), so the two cannot disagree. What is sesame's own
//! here and why (docs/architecture.md): the name rule, the float-dtype cast (burn-store would keep an F16/BF16
//! checkpoint's dtype in an f32 model), and a [`LoadReport`] in Hugging Face names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use burn::module::ParamId;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Element};
use burn_store::{
    ApplyError, BurnToPyTorchAdapter, KeyRemapper, ModuleAdapter, ModuleSnapshot, ModuleStore,
    PathFilter, PyTorchToBurnAdapter, SafetensorsStore, TensorSnapshot,
};

use super::load_report::LoadReport;
use crate::bert::family::Family;
use crate::error::{CoreError, Result};
pub use crate::nn::origin::{FreshParams, ParamOrigin};

/// The first path segment the loader gives every file key before mapping it to a parameter (no module field
/// has this name).
const FILE_MARK: &str = "__file__";

/// Integer buffers of Hugging Face BERT-family checkpoints: not parameters, and never "unexpected".
const BUFFERS: [&str; 2] = ["embeddings.position_ids", "embeddings.token_type_ids"];

/// Path segments where sesame's module tree and Hugging Face's state dict use different names:
/// (field in sesame, name in `transformers`). `self` is a Rust keyword; `LayerNorm` is TensorFlow's name that
/// `modeling_bert.py` kept.
const RENAMED_SEGMENTS: [(&str, &str); 2] =
    [("self_attention", "self"), ("layer_norm", "LayerNorm")];

/// The field of [`crate::SequenceClassifier`] whose parameters (`se.*`, `scalar_mix.*`) Hugging Face-style
/// files keep at the top level.
const AGGREGATOR_FIELD: &str = "aggregator";

/// One parameter of a module, under each of its names.
#[derive(Debug, Clone)]
pub struct NamedParam {
    pub id: ParamId,
    /// The path burn's module tree gives it (`bert.encoder.layer.0.output.layer_norm.gamma`).
    pub module_path: String,
    /// The same with PyTorch's parameter names (`…layer_norm.weight`): what burn-store's adapters match.
    pub torch_path: String,
    /// The Hugging Face state-dict key (`bert.encoder.layer.0.output.LayerNorm.weight`).
    pub name: String,
    pub origin: ParamOrigin,
    /// burn stores it transposed with respect to the file (`nn.Linear` weights).
    pub transposed: bool,
}

/// The Hugging Face key of a parameter of a `family` model from its burn path with PyTorch parameter names.
pub fn hugging_face_name(torch_path: &str, family: Family) -> String {
    family.rename(&bert_name(torch_path))
}

/// The key in BERT's naming: sesame's field names that differ from `modeling_bert.py`'s replaced.
fn bert_name(torch_path: &str) -> String {
    let mut segments: Vec<&str> = torch_path.split('.').collect();
    if segments.first() == Some(&AGGREGATOR_FIELD) {
        segments.remove(0);
    }
    segments
        .iter()
        .map(|s| {
            RENAMED_SEGMENTS
                .iter()
                .find(|(ours, _)| ours == s)
                .map_or(*s, |(_, theirs)| *theirs)
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Every parameter of `module` (a `family` model) with its names and origin, in traversal order.
pub fn param_table<B: Backend, M: FreshParams<B>>(module: &M, family: Family) -> Vec<NamedParam> {
    let fresh = module.fresh_params();
    let burn_names = module.collect(None, None, false);
    let torch_names = module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false);
    burn_names
        .iter()
        .zip(&torch_names)
        .map(|(ours, torch)| {
            let module_path = ours.full_path();
            let torch_path = torch.full_path();
            let key_path = without_enum_variants(torch);
            let id = ours.tensor_id.unwrap_or_default();
            NamedParam {
                id,
                name: hugging_face_name(&key_path, family),
                origin: fresh.get(&id).copied().unwrap_or(ParamOrigin::Pretrained),
                transposed: ours.module_type().as_deref() == Some("Struct:Linear")
                    && ours.shape.num_dims() == 2,
                module_path,
                torch_path,
            }
        })
        .collect()
}

/// The PyTorch-named path of a parameter without the segments burn adds for an enum module's variant
/// (`bert.ModernBert.layers.0…` → `bert.layers.0…`): the state dict knows no such level.
fn without_enum_variants(snapshot: &TensorSnapshot) -> String {
    let (Some(path), Some(containers)) = (&snapshot.path_stack, &snapshot.container_stack) else {
        return snapshot.full_path();
    };
    path.iter()
        .zip(containers)
        .filter(|(_, container)| !container.starts_with("Enum:"))
        .map(|(segment, _)| segment.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

/// Casts every floating-point tensor read from a file to the model's float type (F16/BF16 checkpoints into
/// f32 models). burn-store keeps a file's dtype, which would leave half-precision parameters in an f32 model.
#[derive(Debug, Clone)]
struct CastFloats(DType);

impl ModuleAdapter for CastFloats {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        if !snapshot.dtype.is_float() || snapshot.dtype == self.0 {
            return snapshot.clone();
        }
        let data = snapshot.clone_data_fn();
        let target = self.0;
        TensorSnapshot::from_closure(
            Rc::new(move || data().map(|d| d.convert_dtype(target))),
            target,
            snapshot.shape.clone(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

fn checkpoint_error(path: &Path, message: impl std::fmt::Display) -> CoreError {
    CoreError::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The renaming of file keys to the module's PyTorch-named paths. Every file key is first marked as a file
/// name; a marked key with or without the encoder `prefix` then becomes the path burn-store matches. A key that
/// names no parameter keeps the mark, so it cannot apply to a parameter whose module path it happens to spell
/// (ELECTRA's `classifier.out_proj.weight` is the module path of BERT's `classifier.weight`). burn-store applies
/// the patterns one after another.
fn file_key_remapper(table: &[NamedParam], prefix: &str) -> Result<KeyRemapper> {
    let patterns: Vec<(String, String)> =
        std::iter::once(("^(.*)$".to_string(), format!("{FILE_MARK}.$1")))
            .chain(table.iter().map(|p| {
                let bare = p.name.strip_prefix(prefix).unwrap_or(&p.name);
                (
                    format!(
                        "^{}\\.(?:{})?{}$",
                        regex::escape(FILE_MARK),
                        regex::escape(prefix),
                        regex::escape(bare)
                    ),
                    p.torch_path.clone(),
                )
            }))
            .collect();
    KeyRemapper::from_patterns(patterns)
        .map_err(|e| CoreError::Internal(format!("parameter names do not form patterns: {e}")))
}

/// Checks the tensors of file `path` that name parameters (`by_torch_path`) before they are applied: each
/// parameter in one file only (`seen_in` remembers where each was found), and float tensors only.
fn check_file_tensors(
    path: &Path,
    snapshots: &BTreeMap<String, TensorSnapshot>,
    by_torch_path: &BTreeMap<&str, &NamedParam>,
    seen_in: &mut BTreeMap<String, PathBuf>,
) -> Result<()> {
    for (key, snapshot) in snapshots {
        let Some(param) = by_torch_path.get(key.as_str()) else {
            continue;
        };
        if let Some(first) = seen_in.insert(param.name.clone(), path.to_path_buf()) {
            return Err(checkpoint_error(
                path,
                format!("tensor `{}` is also in {}", param.name, first.display()),
            ));
        }
        if !snapshot.dtype.is_float() {
            return Err(CoreError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: param.name.clone(),
                dtype: format!("{:?}", snapshot.dtype),
            });
        }
    }
    Ok(())
}

/// Loads every tensor that `files` hold for `module`, a `family` model (a key in two files is an error).
/// Missing parameters keep their initialisation and are listed in the report; a shape mismatch, a non-float
/// parameter tensor or an unreadable file is an error naming the file and the key.
pub fn load_params<B: Backend, M: FreshParams<B>>(
    module: &mut M,
    family: Family,
    files: &[PathBuf],
) -> Result<LoadReport> {
    let prefix = format!("{}.", family.prefix());
    let table = param_table(module, family);
    let by_torch_path: BTreeMap<&str, &NamedParam> =
        table.iter().map(|p| (p.torch_path.as_str(), p)).collect();
    let by_module_path: BTreeMap<&str, &NamedParam> =
        table.iter().map(|p| (p.module_path.as_str(), p)).collect();
    let remapper = file_key_remapper(&table, &prefix)?;
    let float = <B::FloatElem as Element>::dtype();

    let mut applied = BTreeSet::new();
    let mut unexpected = Vec::new();
    let mut stripped_prefix = String::new();
    let mut seen_in: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| CoreError::io(path, e))?;
        let raw = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
            checkpoint_error(path, format!("not a readable safetensors file ({e})"))
        })?;
        let raw_names: Vec<String> = raw.names().into_iter().map(str::to_owned).collect();
        if raw_names.iter().any(|n| n.starts_with(&prefix)) {
            stripped_prefix = prefix.clone();
        }
        let mut store = SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(PyTorchToBurnAdapter.chain(CastFloats(float)))
            .remap(remapper.clone())
            .allow_partial(true)
            .validate(false);
        let snapshots = store
            .get_all_snapshots()
            .map_err(|e| checkpoint_error(path, format!("unreadable ({e})")))?;
        check_file_tensors(path, snapshots, &by_torch_path, &mut seen_in)?;
        let result = module
            .load_from(&mut store)
            .map_err(|e| checkpoint_error(path, e))?;
        if let Some(error) = result.errors.first() {
            return Err(apply_error(path, error, &by_module_path));
        }
        applied.extend(result.applied.iter().cloned());
        // burn-store lists a tensor it found under its alternative name (LayerNorm `weight` for `gamma`) as
        // unused too; only keys that name no parameter are unexpected.
        unexpected.extend(
            result
                .unused
                .iter()
                .filter_map(|k| k.strip_prefix(FILE_MARK).and_then(|k| k.strip_prefix('.')))
                .filter(|k| !BUFFERS.contains(&k.strip_prefix(&prefix).unwrap_or(k)))
                .map(str::to_owned),
        );
    }
    let (fresh, missing): (Vec<&NamedParam>, Vec<&NamedParam>) = table
        .iter()
        .filter(|p| !applied.contains(&p.module_path))
        .partition(|p| p.origin.is_fresh());
    let names = |params: Vec<&NamedParam>| params.into_iter().map(|p| p.name.clone()).collect();
    unexpected.sort();
    Ok(LoadReport {
        missing: names(missing),
        fresh: names(fresh),
        unexpected,
        stripped_prefix,
    })
}

/// An error of burn-store's applier in Hugging Face terms (names and `[out, in]` shapes).
fn apply_error(file: &Path, error: &ApplyError, params: &BTreeMap<&str, &NamedParam>) -> CoreError {
    match error {
        ApplyError::ShapeMismatch {
            path,
            expected,
            found,
        } => {
            let param = params.get(path.as_str());
            let flip = |dims: Vec<usize>| match param {
                Some(p) if p.transposed && dims.len() == 2 => vec![dims[1], dims[0]],
                _ => dims,
            };
            CoreError::ShapeMismatch {
                path: file.to_path_buf(),
                key: param.map_or_else(|| path.clone(), |p| p.name.clone()),
                expected: flip(expected.to_vec()),
                found: flip(found.to_vec()),
            }
        }
        other => checkpoint_error(file, other),
    }
}

/// The parameters of `module` (a `family` model) whose origin passes `select`, as safetensors bytes in the
/// family's Hugging Face layout (`[out, in]` linear weights, `LayerNorm.weight`/`.bias`, its key names), with
/// `{"format": "pt"}` in the header as `transformers` expects. `None` when no parameter is selected.
pub fn to_safetensors<B: Backend, M: FreshParams<B>>(
    module: &M,
    family: Family,
    select: impl Fn(ParamOrigin) -> bool,
) -> Result<Option<Vec<u8>>> {
    let chosen: Vec<NamedParam> = param_table(module, family)
        .into_iter()
        .filter(|p| select(p.origin))
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    let patterns: Vec<(String, String)> = chosen
        .iter()
        .map(|p| {
            (
                format!("^{}$", regex::escape(&p.torch_path)),
                p.name.clone(),
            )
        })
        .collect();
    let remapper = KeyRemapper::from_patterns(patterns)
        .map_err(|e| CoreError::Internal(format!("parameter names do not form patterns: {e}")))?;
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .filter(PathFilter::new().with_full_paths(chosen.iter().map(|p| p.torch_path.clone())))
        .remap(remapper)
        .clear_metadata()
        .metadata("format", "pt");
    module
        .save_into(&mut store)
        .map_err(|e| CoreError::Serialize(e.to_string()))?;
    store
        .get_bytes()
        .map(Some)
        .map_err(|e| CoreError::Serialize(e.to_string()))
}

/// `model.safetensors` in a model directory, or a clear error saying what is there instead.
pub fn find_weights(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(super::WEIGHTS_FILE);
    if path.is_file() {
        return Ok(path);
    }
    let hint = if dir.join("pytorch_model.bin").is_file() {
        " (found pytorch_model.bin: convert it to safetensors first, sesame does not read pickles)"
    } else if !dir.is_dir() {
        " (the model directory does not exist)"
    } else {
        ""
    };
    Err(CoreError::io(
        &path,
        std::io::Error::new(std::io::ErrorKind::NotFound, format!("no such file{hint}")),
    ))
}
