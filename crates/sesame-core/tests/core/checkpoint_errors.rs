//! Bad checkpoints and configs give typed errors naming the file and what is wrong, never a panic.

use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use sesame_core::{AttentionConfig, BertConfig, BertModel, CoreError, MissingWeights};
use sesame_testkit::{minilm_dir, temp_dir, CpuBackend, Golden, TempDir};

/// A model directory with the MiniLM config and tokenizer and the given weights file bytes.
fn model_dir_with(name: &str, config: &str, weights: &[u8]) -> TempDir {
    let scratch = temp_dir(name);
    let dir = scratch.path();
    std::fs::write(dir.join("config.json"), config).expect("config");
    std::fs::write(dir.join("model.safetensors"), weights).expect("weights");
    std::fs::copy(
        minilm_dir().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .expect("tokenizer");
    scratch
}

fn minilm_config() -> String {
    std::fs::read_to_string(minilm_dir().join("config.json")).expect("config")
}

fn load(dir: &Path) -> Result<BertModel<CpuBackend>, CoreError> {
    BertModel::<CpuBackend>::from_pretrained(
        dir,
        &AttentionConfig::default(),
        MissingWeights::Refuse,
        &Default::default(),
    )
    .map(|(m, _)| m)
}

#[test]
fn config_with_a_missing_field_names_it_and_the_file() {
    let scratch = temp_dir("config-missing");
    let dir = scratch.path();
    let text = minilm_config().replace("\"num_hidden_layers\": 6,", "");
    assert!(!text.contains("num_hidden_layers"), "the field was removed");
    std::fs::write(dir.join("config.json"), text).expect("write");
    let err = BertConfig::from_file(dir.join("config.json")).unwrap_err();
    assert!(matches!(err, CoreError::Config { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("missing field `num_hidden_layers`") && msg.contains("config.json"),
        "{msg}"
    );
}

#[test]
fn config_that_is_not_json_is_a_config_error() {
    let scratch = temp_dir("config-garbage");
    let dir = scratch.path();
    std::fs::write(dir.join("config.json"), "{ not json").expect("write");
    let err = BertConfig::from_file(dir.join("config.json")).unwrap_err();
    assert!(matches!(err, CoreError::Config { .. }), "{err:?}");
}

#[test]
fn checkpoint_with_a_wrong_shape_is_refused_naming_the_field_or_the_tensor() {
    let data = vec![0u8; 4 * 10 * 384];
    let view = TensorView::new(Dtype::F32, vec![10, 384], &data).expect("view");
    let bytes = safetensors::serialize([("embeddings.word_embeddings.weight", view)], None)
        .expect("serialize");
    let scratch = model_dir_with("wrong-shape", &minilm_config(), &bytes);
    let dir = scratch.path();
    let err = load(dir).unwrap_err();
    // Found in the file's header, before the model is built: the config field and the file's shape.
    match &err {
        CoreError::ConfigDisagrees {
            field,
            value,
            found,
            ..
        } => {
            assert_eq!(field, "vocab_size");
            assert_eq!(*value, 30522);
            assert!(
                found.contains("`embeddings.word_embeddings.weight` with shape [10, 384]"),
                "{found}"
            );
        }
        other => panic!("expected the config to disagree with the file, got {other:?}"),
    }
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // A tensor no config field sizes alone is checked against the built model: a shape error naming it.
    let data = vec![0u8; 4 * 10];
    let view = TensorView::new(Dtype::F32, vec![10], &data).expect("view");
    let bytes =
        safetensors::serialize([("embeddings.LayerNorm.weight", view)], None).expect("serialize");
    let scratch = model_dir_with("wrong-norm-shape", &minilm_config(), &bytes);
    match load(scratch.path()) {
        Err(CoreError::ShapeMismatch {
            key,
            expected,
            found,
            ..
        }) => {
            assert_eq!(key, "embeddings.LayerNorm.weight");
            assert_eq!((expected, found), (vec![384], vec![10]));
        }
        other => panic!("expected a shape mismatch, got {:?}", other.err()),
    }
}

#[test]
fn truncated_checkpoint_is_a_checkpoint_error() {
    let full = std::fs::read(minilm_dir().join("model.safetensors")).expect("checkpoint");
    let scratch = model_dir_with("truncated", &minilm_config(), &full[..full.len() / 2]);
    let dir = scratch.path();
    let err = load(dir).unwrap_err();
    assert!(matches!(err, CoreError::Checkpoint { .. }), "{err:?}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn garbage_checkpoint_is_a_checkpoint_error() {
    let scratch = model_dir_with(
        "garbage",
        &minilm_config(),
        b"this is not a safetensors file",
    );
    let dir = scratch.path();
    assert!(matches!(load(dir), Err(CoreError::Checkpoint { .. })));
}

#[test]
fn strict_loading_lists_missing_tensors() {
    let data = vec![0u8; 4 * 384];
    let view = TensorView::new(Dtype::F32, vec![384], &data).expect("view");
    let bytes = safetensors::serialize([("pooler.dense.bias", view)], None).expect("serialize");
    let scratch = model_dir_with("missing", &minilm_config(), &bytes);
    let dir = scratch.path();
    match load(dir) {
        Err(err @ CoreError::MissingTensors { .. }) => {
            let message = err.to_string();
            let CoreError::MissingTensors { keys, .. } = err else {
                unreachable!()
            };
            assert!(keys.contains(&"encoder.layer.5.output.LayerNorm.weight".to_string()));
            assert!(!keys.contains(&"pooler.dense.bias".to_string()));
            assert!(message.contains("--allow-missing-weights"), "{message}");
        }
        other => panic!("expected missing tensors, got {:?}", other.err()),
    }
    // Non-strict loading succeeds and reports the same keys.
    let (_, report) = BertModel::<CpuBackend>::from_pretrained(
        dir,
        &AttentionConfig::default(),
        MissingWeights::Allow,
        &Default::default(),
    )
    .expect("non-strict load");
    assert_eq!(report.missing.len(), 3 + 2 + 6 * 16 + 1);
}

#[test]
fn missing_model_directory_is_an_io_error() {
    let err = load(Path::new("/nonexistent/sesame-model")).unwrap_err();
    assert!(matches!(err, CoreError::Io { .. }), "{err:?}");
}

#[test]
fn bert_prefixed_checkpoint_loads_and_reports_unexpected_heads() {
    let bytes = std::fs::read(minilm_dir().join("model.safetensors")).expect("read");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("parse");
    let classifier = vec![0u8; 4 * 2 * 384];
    let mut views: Vec<(String, TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .map(|(k, v)| (format!("bert.{k}"), v))
        .collect();
    views.push((
        "classifier.weight".into(),
        TensorView::new(Dtype::F32, vec![2, 384], &classifier).expect("view"),
    ));
    let prefixed = safetensors::serialize(views, None).expect("serialize");
    let scratch = model_dir_with("prefixed", &minilm_config(), &prefixed);
    let dir = scratch.path();
    let (_, report) = BertModel::<CpuBackend>::from_pretrained(
        dir,
        &AttentionConfig::default(),
        MissingWeights::Refuse,
        &Default::default(),
    )
    .expect("prefixed checkpoint loads");
    assert_eq!(report.stripped_prefix, "bert.");
    assert_eq!(report.unexpected, vec!["classifier.weight".to_string()]);
    assert!(report.missing.is_empty());
    assert_eq!(
        Golden::from_path(&minilm_dir().join("model.safetensors"))
            .shapes()
            .len()
            + 1,
        Golden::from_bytes(prefixed).shapes().len()
    );
}

#[test]
fn missing_tensors_name_the_closest_unused_ones() {
    // The pooler bias stored under another name: the error pairs the two.
    let data = vec![0u8; 4 * 384];
    let view = TensorView::new(Dtype::F32, vec![384], &data).expect("view");
    let bytes = safetensors::serialize([("pooler.dense.b", view)], None).expect("serialize");
    let scratch = model_dir_with("renamed", &minilm_config(), &bytes);
    let dir = scratch.path();
    let err = load(dir).expect_err("must fail");
    match &err {
        CoreError::MissingTensors { closest, .. } => assert!(
            closest.contains(&(
                "pooler.dense.bias".to_string(),
                "pooler.dense.b".to_string()
            )),
            "{closest:?}"
        ),
        other => panic!("expected missing tensors, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("`pooler.dense.bias` ~ `pooler.dense.b`"),
        "{err}"
    );
}
