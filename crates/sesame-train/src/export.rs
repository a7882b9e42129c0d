//! A fine-tuned model as a Hugging Face directory: `config.json` + `model.safetensors` in the family's own
//! layout (`bert.*` + `classifier.*` for BERT, `roberta.*`, `electra.*`, `distilbert.*` + `pre_classifier.*`:
//! what `*ForSequenceClassification.from_pretrained` loads for the plain variant), and
//! beside them `sesame.json` (variant settings, task) and `sesame.safetensors` (SE gate, scalar mix, localness
//! parameters), which sesame reloads.

use sesame_core::io::{CONFIG_FILE, WEIGHTS_FILE};
use sesame_core::SesameBackend;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sesame_core::io::preflight::check_before_loading;
use sesame_core::io::weights::to_safetensors;
use sesame_core::{EncoderConfig, SequenceClassifier, SesameConfig};

use crate::error::TrainError;
use crate::fsio::{write_atomic, write_json_atomic};
use crate::tasks::Task;

/// `sesame.json`: what a `config.json` cannot say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SesameMeta {
    pub task: Task,
    pub model: SesameConfig,
}

/// The side file with the parameters `transformers` does not know (SE gate, scalar mix, localness).
const SIDE_WEIGHTS: &str = "sesame.safetensors";

/// The tokenizer and vocabulary files of a model directory (copied next to an export, fetched for a Hub id).
pub const TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
];

/// Writes `model` to `dir` (which must exist), copying the tokenizer files from `tokenizer_dir`.
pub fn export_model<B: SesameBackend>(
    model: &SequenceClassifier<B>,
    task: Task,
    tokenizer_dir: &Path,
    dir: &Path,
) -> Result<(), TrainError> {
    if let Some(bytes) = to_safetensors(model, model.family(), |origin| {
        origin.in_hugging_face_model()
    })? {
        write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
    }
    if let Some(bytes) = to_safetensors(model, model.family(), |origin| {
        !origin.in_hugging_face_model()
    })? {
        write_atomic(&dir.join(SIDE_WEIGHTS), &bytes)?;
    }
    let config_path = dir.join(CONFIG_FILE);
    let config = hugging_face_config(&model.encoder_config(), task).map_err(|source| {
        TrainError::Serialize {
            path: config_path.clone(),
            source,
        }
    })?;
    write_atomic(&config_path, config.as_bytes())?;
    let sesame = SesameMeta {
        task,
        model: model.config().clone(),
    };
    write_json_atomic(&dir.join("sesame.json"), &sesame, true)?;
    for name in TOKENIZER_FILES {
        let from = tokenizer_dir.join(name);
        if from.is_file() {
            let bytes = std::fs::read(&from).map_err(|e| TrainError::run(&from, e.to_string()))?;
            write_atomic(&dir.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// `config.json` of the family's `*ForSequenceClassification` for `task`.
fn hugging_face_config(config: &EncoderConfig, task: Task) -> Result<String, serde_json::Error> {
    let mut value = serde_json::Value::Object(config.to_hugging_face_json()?);
    let labels = task.labels();
    let id2label: serde_json::Map<String, serde_json::Value> = if labels.is_empty() {
        [("0".to_string(), "LABEL_0".into())].into_iter().collect()
    } else {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), (*l).into()))
            .collect()
    };
    let label2id: serde_json::Map<String, serde_json::Value> = id2label
        .iter()
        .map(|(k, v)| {
            (
                v.as_str().unwrap_or_default().to_string(),
                k.parse::<u64>().unwrap_or(0).into(),
            )
        })
        .collect();
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "architectures".into(),
            serde_json::json!([config.family().classifier_architecture()]),
        );
        obj.insert("id2label".into(), id2label.into());
        obj.insert("label2id".into(), label2id.into());
        obj.insert("finetuning_task".into(), task.name().to_lowercase().into());
        if task.is_regression() {
            obj.insert("problem_type".into(), "regression".into());
        } else {
            obj.insert("problem_type".into(), "single_label_classification".into());
        }
    }
    serde_json::to_string_pretty(&value)
}

/// Loads a directory written by [`export_model`] (or any `*ForSequenceClassification` directory of the family
/// together with a `sesame.json`). Every parameter must be present.
pub fn load_exported<B: SesameBackend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(SequenceClassifier<B>, SesameMeta), TrainError> {
    load_fine_tuned(dir, None, device)
}

/// [`load_exported`], or a classifier fine-tuned elsewhere: a `*ForSequenceClassification` directory of any
/// supported family without `sesame.json` loads as the plain variant, its task taken from `task` or else from
/// `config.json`'s `finetuning_task`, its label count from `id2label`. Every parameter must be present.
pub fn load_fine_tuned<B: SesameBackend>(
    dir: &Path,
    task: Option<Task>,
    device: &B::Device,
) -> Result<(SequenceClassifier<B>, SesameMeta), TrainError> {
    let meta_path = dir.join("sesame.json");
    let config_path = dir.join(CONFIG_FILE);
    let meta: SesameMeta = if meta_path.is_file() {
        let text = std::fs::read_to_string(&meta_path)
            .map_err(|e| TrainError::run(&meta_path, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| TrainError::run(&meta_path, e.to_string()))?
    } else {
        meta_of_foreign_classifier(&config_path, task).map_err(|message| {
            TrainError::run(
                &meta_path,
                format!("no such file, and {} {message}", config_path.display()),
            )
        })?
    };
    let model = load_classifier(dir, &meta.model, device)?;
    Ok((model, meta))
}

/// The classifier `model` describes, with every parameter, pretrained or fresh, from `dir` (`model.safetensors`
/// and, where the variant has its own parameters, `sesame.safetensors`).
pub fn load_classifier<B: SesameBackend>(
    dir: &Path,
    model: &SesameConfig,
    device: &B::Device,
) -> Result<SequenceClassifier<B>, TrainError> {
    let config_path = dir.join(CONFIG_FILE);
    let encoder = EncoderConfig::from_file(&config_path)?;
    let weights = sesame_core::find_weights(dir)?;
    let mut files = vec![weights.clone()];
    let extra = dir.join(SIDE_WEIGHTS);
    if extra.is_file() {
        files.push(extra);
    }
    check_before_loading(&encoder, &config_path, &files, model.num_labels)?;
    let mut classifier = SequenceClassifier::new(&encoder, model, device)?;
    classifier.load_files(&files)?.require_all(dir)?;
    Ok(classifier)
}

/// What `sesame.json` would say of a `*ForSequenceClassification` directory written by `transformers`.
fn meta_of_foreign_classifier(config: &Path, task: Option<Task>) -> Result<SesameMeta, String> {
    let text = std::fs::read_to_string(config).map_err(|e| format!("cannot be read ({e})"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("is not JSON ({e})"))?;
    let num_labels = classifier_labels(&value).ok_or(
        "names no *ForSequenceClassification architecture (not a fine-tuned classifier; fine-tune it with `sesame finetune`)",
    )?;
    let task = match task {
        Some(task) => task,
        None => value["finetuning_task"]
            .as_str()
            .and_then(Task::parse)
            .ok_or("has no `finetuning_task` sesame knows; name the task with --task")?,
    };
    if num_labels != task.num_labels() {
        return Err(format!(
            "has {num_labels} labels, {} has {}",
            task.name(),
            task.num_labels()
        ));
    }
    // Label names, where the file has them, must be the task's in the task's order.
    let names: Vec<&str> = (0..num_labels)
        .filter_map(|i| value["id2label"][i.to_string()].as_str())
        .collect();
    let labels = task.labels();
    if names.len() == labels.len() && names.iter().all(|n| labels.contains(n)) && names != labels {
        return Err(format!(
            "orders the labels {names:?}; sesame's {} order is {labels:?}",
            task.name()
        ));
    }
    Ok(SesameMeta {
        task,
        model: SesameConfig::baseline(num_labels),
    })
}

/// The label count of a parsed `config.json` that names a `*ForSequenceClassification` architecture (a
/// checkpoint with a trained head): `id2label`'s size, or `transformers`' default 2 without it. `None` for any
/// other architecture.
pub fn classifier_labels(config: &serde_json::Value) -> Option<usize> {
    let is_classifier = config["architectures"].as_array().is_some_and(|a| {
        a.iter().any(|n| {
            n.as_str()
                .is_some_and(|n| n.ends_with("ForSequenceClassification"))
        })
    });
    is_classifier.then(|| {
        config["id2label"]
            .as_object()
            .map_or(2, |labels| labels.len())
    })
}
