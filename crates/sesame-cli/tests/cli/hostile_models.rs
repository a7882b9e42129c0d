//! Model directories nobody checked: a `config.json` whose sizes the weights file does not back must end in an
//! error naming the field, within seconds and without allocating what the config asks for.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use sesame_testkit::{shared_dir, temp_dir, write_tiny_bert, TempDir};

use crate::common::s;

/// The address-space limit every refusal must stay under (KiB for `ulimit -v`): a model whose sizes came from
/// the config alone would need terabytes and abort in the allocator instead of returning an error.
const ADDRESS_SPACE_KIB: u64 = 1_000_000;

/// Runs `sesame args…` under the address-space limit (Linux `ulimit -v`, through the shell).
fn sesame_limited(args: &[&str]) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KIB} && exec '{}' {}",
            env!("CARGO_BIN_EXE_sesame"),
            quoted.join(" ")
        ))
        .output()
        .expect("bash runs sesame")
}

/// A copy of model directory `from` in `to` whose `config.json` has `field` set to `value`.
fn with_config_value(from: &Path, to: &Path, field: &str, value: serde_json::Value) {
    sesame_testkit::copy_dir(from, to);
    let path = to.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("config")).expect("JSON");
    config[field] = value;
    std::fs::write(&path, config.to_string()).expect("write config");
}

fn assert_refused_naming(out: &Output, started: Instant, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "`{needle}` not in: {stderr}");
    }
}

/// A scratch folder with the tiny BERT (`tiny/`) and a one-sentence input for `encode`.
struct Scene {
    tmp: TempDir,
    tiny: PathBuf,
    input: PathBuf,
}

fn scene(name: &str) -> Scene {
    let tmp = temp_dir(name);
    let tiny = tmp.path().join("tiny");
    write_tiny_bert(&tiny, 3);
    let input = tmp.path().join("in.tsv");
    std::fs::write(&input, "sentence\nsesame opens\n").expect("input");
    Scene { tmp, tiny, input }
}

impl Scene {
    /// `sesame encode --model model … extra` under the address-space limit.
    fn encode(&self, model: &Path, extra: &[&str]) -> Output {
        let output = self.tmp.path().join("out.safetensors");
        let mut args = vec![
            "encode",
            "--model",
            s(model),
            "--input",
            s(&self.input),
            "--output",
            s(&output),
        ];
        args.extend_from_slice(extra);
        sesame_limited(&args)
    }
}

#[test]
fn sizes_the_weights_file_does_not_hold_are_refused_before_allocating() {
    let scene = scene("hostile");
    // (field, value, the file's tensor the message must name). Hidden sizes divisible by the heads, so that
    // the config's own checks pass and only the weights file can tell.
    let cases: [(&str, u64, &str); 7] = [
        ("hidden_size", 4_000_000_000, "word_embeddings"),
        ("intermediate_size", 3_000_000_000, "intermediate.dense"),
        ("vocab_size", 99_999_999_999, "word_embeddings"),
        (
            "max_position_embeddings",
            1_000_000_000_000,
            "position_embeddings",
        ),
        ("type_vocab_size", 100_000_000_000, "token_type_embeddings"),
        ("num_hidden_layers", 1_000_000, "layers 0-1 only"),
        ("embedding_size", 2_000_000_000, "word_embeddings"),
    ];
    for (field, value, tensor) in cases {
        let dir = scene.tmp.path().join(field);
        with_config_value(&scene.tiny, &dir, field, value.into());
        let started = Instant::now();
        let out = scene.encode(&dir, &[]);
        assert_refused_naming(
            &out,
            started,
            &[field, &value.to_string(), tensor, "model.safetensors"],
        );
    }
}

#[test]
fn distilbert_sizes_are_named_as_its_config_spells_them() {
    let scene = scene("hostile-distilbert");
    let dir = scene.tmp.path().join("model");
    with_config_value(
        &shared_dir().join("models/tiny-distilbert"),
        &dir,
        "n_layers",
        1_000_000.into(),
    );
    let started = Instant::now();
    let out = scene.encode(&dir, &[]);
    assert_refused_naming(&out, started, &["`n_layers` is 1000000", "layers 0-1 only"]);
}

#[test]
fn a_model_over_the_memory_limit_is_refused_with_the_estimate() {
    let scene = scene("hostile-memory");
    // The tiny model's weights take about 1.2 MiB in f32, its file as much again.
    let started = Instant::now();
    let out = scene.encode(&scene.tiny, &["--max-memory", "1M"]);
    assert_refused_naming(
        &out,
        started,
        &["loading the model in", "MiB", "--max-memory"],
    );
    let fits = scene.encode(&scene.tiny, &["--max-memory", "64M"]);
    assert!(
        fits.status.success(),
        "{}",
        String::from_utf8_lossy(&fits.stderr)
    );

    // A model built from its config alone has no file to check against: the estimate decides.
    let layers = scene.tmp.path().join("layers");
    with_config_value(
        &scene.tiny,
        &layers,
        "num_hidden_layers",
        100_000_000.into(),
    );
    let started = Instant::now();
    let out = sesame_limited(&[
        "bench",
        "--model",
        s(&layers),
        "--steps",
        "1",
        "--warmup",
        "0",
    ]);
    assert_refused_naming(
        &out,
        started,
        &["benchmarking", "more than the", "available on this machine"],
    );
}
