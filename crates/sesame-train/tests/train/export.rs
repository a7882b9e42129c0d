//! A fine-tuned model exported as a Hugging Face `BertForSequenceClassification` directory has exactly that
//! state dict's keys and shapes, reloads to the same outputs, and a damaged export is reported.

use burn::tensor::backend::Backend;
use sesame_core::{SequenceClassifier, SesameConfig};
use sesame_testkit::{
    max_diff, minilm_dir, random_streams, temp_dir, two_pair_logits, CpuBackend, Golden, TempDir,
};
use sesame_train::export::{export_model, load_exported};
use sesame_train::Task;

/// MiniLM with `config`'s variant and a fresh head, and its export (as for RTE) in a scratch folder `name`.
fn exported_minilm(config: &SesameConfig, name: &str) -> (SequenceClassifier<CpuBackend>, TempDir) {
    let (model, _) = SequenceClassifier::<CpuBackend>::from_pretrained(
        minilm_dir(),
        config,
        sesame_core::MissingWeights::Refuse,
        &Default::default(),
    )
    .expect("model");
    let scratch = temp_dir(name);
    export_model(&model, Task::Rte, &minilm_dir(), scratch.path()).expect("export");
    (model, scratch)
}

fn logits(model: &SequenceClassifier<CpuBackend>) -> Vec<f32> {
    two_pair_logits(model, &minilm_dir())
}

#[test]
fn baseline_export_is_a_bert_for_sequence_classification_state_dict() {
    let device = Default::default();
    let _streams = random_streams();
    CpuBackend::seed(&device, 3);
    let (model, scratch) = exported_minilm(&SesameConfig::baseline(2), "export-baseline");
    let dir = scratch.path();
    assert!(
        !dir.join("sesame.safetensors").exists(),
        "the plain variant has no extra tensors"
    );

    // Exactly BertForSequenceClassification's state dict: the original keys under `bert.` (same shapes, so
    // [out, in] linear weights) and the head.
    let exported = Golden::from_path(&dir.join("model.safetensors")).shapes();
    let mut want: std::collections::BTreeMap<String, Vec<usize>> =
        Golden::from_path(&minilm_dir().join("model.safetensors"))
            .shapes()
            .into_iter()
            .filter(|(k, _)| k != "embeddings.position_ids")
            .map(|(k, shape)| (format!("bert.{k}"), shape))
            .collect();
    want.insert("classifier.weight".into(), vec![2, 384]);
    want.insert("classifier.bias".into(), vec![2]);
    assert_eq!(exported, want);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    assert_eq!(config["id2label"]["1"], "not_entailment");
    assert!(dir.join("tokenizer.json").is_file());

    let (reloaded, meta) = load_exported::<CpuBackend>(dir, &device).expect("reload");
    assert_eq!(meta.task, Task::Rte);
    assert_eq!(logits(&model), logits(&reloaded));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sesamebert_export_keeps_the_gate_beside_the_state_dict_and_reloads() {
    let device = Default::default();
    let mut config = SesameConfig::sesamebert(2);
    config.attention.localness = Some(Default::default());
    let (model, scratch) = exported_minilm(&config, "export-sesamebert");
    let dir = scratch.path();
    let extra = Golden::from_path(&dir.join("sesame.safetensors")).shapes();
    assert_eq!(extra.get("se.bottleneck_fc.weight"), Some(&vec![2, 6]));
    assert!(extra
        .keys()
        .any(|k| k.starts_with("bert.encoder.layer.0.attention.self.localness.")));
    let main = Golden::from_path(&dir.join("model.safetensors")).shapes();
    assert!(main
        .keys()
        .all(|k| !k.starts_with("se.") && !k.contains("localness")));
    let (reloaded, meta) = load_exported::<CpuBackend>(dir, &device).expect("reload");
    assert_eq!(meta.model, config);
    // Fresh parameters were created in burn's [in, out] layout and come back as transposed views of the
    // Hugging Face [out, in] layout, so matmul summation order may differ in the last bits.
    let diff = max_diff(&logits(&model), &logits(&reloaded));
    assert!(diff < 1e-5, "logits differ by {diff} after reloading");

    // Damaged exports are errors naming what is wrong.
    std::fs::remove_file(dir.join("sesame.safetensors")).expect("remove");
    let err = load_exported::<CpuBackend>(dir, &device).expect_err("missing gate must fail");
    assert!(err.to_string().contains("se.bottleneck_fc.weight"), "{err}");
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("read");
    std::fs::write(dir.join("model.safetensors"), &bytes[..1000]).expect("truncate");
    let err = load_exported::<CpuBackend>(dir, &device).expect_err("truncated must fail");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    let err = load_exported::<CpuBackend>(std::path::Path::new("/nonexistent/run/best"), &device)
        .expect_err("missing dir must fail");
    assert!(err.to_string().contains("sesame.json"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
