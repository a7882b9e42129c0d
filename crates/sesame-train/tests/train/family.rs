//! Each checkpoint of another architecture than BERT (`../shared/models/tiny-{roberta,electra,distilbert}`, and
//! `tiny-{modernbert,deberta-v3}` with their own module trees) exports to exactly its original state dict (names
//! and shapes) and `config.json` layout, with every variant, and reloads to the same outputs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sesame_core::{MissingWeights, SequenceClassifier, SesameConfig};
use sesame_testkit::{
    max_diff, random_streams, shared_dir, temp_dir, two_pair_logits, CpuBackend, Golden,
};
use sesame_train::export::{export_model, load_exported};
use sesame_train::Task;

const FAMILIES: [(&str, &str); 5] = [
    ("roberta", "RobertaForSequenceClassification"),
    ("electra", "ElectraForSequenceClassification"),
    ("distilbert", "DistilBertForSequenceClassification"),
    ("modernbert", "ModernBertForSequenceClassification"),
    ("deberta-v3", "DebertaV2ForSequenceClassification"),
];

/// What an export adds to or sets in a classifier's `config.json`.
const TASK_FIELDS: [&str; 5] = [
    "architectures",
    "id2label",
    "label2id",
    "finetuning_task",
    "problem_type",
];

fn model_dir(kind: &str) -> PathBuf {
    shared_dir().join("models").join(format!("tiny-{kind}"))
}

#[test]
fn every_family_exports_its_own_state_dict_and_reloads() {
    let _streams = random_streams();
    let device = Default::default();
    for (kind, architecture) in FAMILIES {
        let source = model_dir(kind);
        let original: BTreeMap<String, Vec<usize>> =
            Golden::from_path(&source.join("model.safetensors")).shapes();
        for (label, config) in [
            ("baseline", SesameConfig::baseline(2)),
            ("sesamebert", SesameConfig::sesamebert(2)),
        ] {
            let (model, report) = SequenceClassifier::<CpuBackend>::from_pretrained(
                &source,
                &config,
                MissingWeights::Refuse,
                &device,
            )
            .unwrap_or_else(|e| panic!("{kind} {label}: {e}"));
            assert!(
                report.missing.is_empty(),
                "{kind} {label}: {:?}",
                report.missing
            );
            let scratch = temp_dir(&format!("family-{kind}-{label}"));
            let dir = scratch.path();
            export_model(&model, Task::Rte, &source, dir).expect("export");
            assert_eq!(
                Golden::from_path(&dir.join("model.safetensors")).shapes(),
                original,
                "{kind} {label}: exported names and shapes"
            );
            check_exported_config(kind, architecture, &source, dir);
            let (reloaded, _) = load_exported::<CpuBackend>(dir, &device).expect("reload");
            let diff = max_diff(
                &two_pair_logits(&model, &source),
                &two_pair_logits(&reloaded, dir),
            );
            assert!(
                diff < 1e-5,
                "{kind} {label}: logits differ by {diff} after reloading"
            );
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The exported `config.json` names the family's classifier and keeps the original's architecture fields under
/// their own names and values (ModernBERT's and DeBERTa's: every field, as read).
fn check_exported_config(
    kind: &str,
    architecture: &str,
    source: &std::path::Path,
    dir: &std::path::Path,
) {
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(exported["architectures"][0], architecture, "{kind}");
    // Every architecture field of the original config is written back under its own name and value.
    for key in [
        "model_type",
        "vocab_size",
        "max_position_embeddings",
        "pad_token_id",
        "hidden_size",
        "dim",
        "n_layers",
        "num_hidden_layers",
        "embedding_size",
        "type_vocab_size",
        "layer_norm_eps",
    ] {
        if let Some(value) = theirs.get(key) {
            assert_eq!(exported.get(key), Some(value), "{kind}: config `{key}`");
        }
    }
    // ModernBERT's and DeBERTa's configs are written back as they were read, field for field.
    if matches!(kind, "modernbert" | "deberta-v3") {
        let fields = theirs.as_object().expect("an object");
        for (key, value) in fields
            .iter()
            .filter(|(k, _)| !TASK_FIELDS.contains(&k.as_str()))
        {
            assert_eq!(exported.get(key), Some(value), "{kind}: config `{key}`");
        }
    }
}
