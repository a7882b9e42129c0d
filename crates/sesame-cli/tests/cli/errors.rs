//! Bad input to the command line gives an error message naming the file (and line) and exit code 1, never a
//! panic.

use std::path::Path;

use sesame_testkit::{minilm_dir, temp_dir};

use crate::common::sesame;

/// `sesame encode` of MiniLM from `input` to `output`, with `extra` flags.
fn encode(input: &Path, output: &Path, extra: &[&str]) -> std::process::Output {
    let model = minilm_dir();
    let mut args = vec![
        "encode",
        "--model",
        model.to_str().expect("utf8"),
        "--input",
        input.to_str().expect("utf8"),
        "--output",
        output.to_str().expect("utf8"),
    ];
    args.extend_from_slice(extra);
    sesame(&args)
}

/// The command failed with `needle` in its error message, and without a panic.
fn assert_refused(out: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(needle), "{needle}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn encode_rejects_a_tsv_with_a_bad_line() {
    let scratch = temp_dir("cli-bad-tsv");
    let dir = scratch.path();
    let input = dir.join("pairs.tsv");
    std::fs::write(
        &input,
        "sentence1\tsentence2\na\tb\nonly one column\nc\td\n",
    )
    .expect("write");
    let out = encode(&input, &dir.join("out.safetensors"), &[]);
    assert_refused(
        &out,
        "pairs.tsv:3: expected 2 tab-separated columns, found 1",
    );
    assert!(!dir.join("out.safetensors").exists());
}

#[test]
fn encode_rejects_missing_files_non_utf8_and_headerless_input() {
    let scratch = temp_dir("cli-bad-inputs");
    let dir = scratch.path();
    let out_path = dir.join("out.safetensors");
    let run = |input: &Path| encode(input, &out_path, &[]);
    let latin1 = dir.join("latin1.tsv");
    std::fs::write(&latin1, b"sentence1\ncaf\xe9\n").expect("write");
    let empty = dir.join("empty.tsv");
    std::fs::write(&empty, b"").expect("write");
    let wide = dir.join("wide.tsv");
    std::fs::write(&wide, b"a\tb\tc\n1\t2\t3\n").expect("write");
    for (input, needle) in [
        (dir.join("absent.tsv"), "absent.tsv"),
        (latin1, "latin1.tsv:2: not valid UTF-8"),
        (empty, "expected a header"),
        (wide, "one or two text columns"),
    ] {
        let out = run(&input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

#[test]
fn a_precision_the_backend_cannot_compute_in_is_refused_before_any_work() {
    let scratch = temp_dir("cli-precision");
    let dir = scratch.path();
    let input = dir.join("sentences.tsv");
    std::fs::write(&input, "sentence1\na cat\n").expect("write");
    let output = dir.join("out.safetensors");
    let run = |precision: &str| encode(&input, &output, &["--precision", precision]);
    // The CPU backends (the default build) compute in f32 only.
    let out = run("f16");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot compute in f16 on this device; it can compute in f32"),
        "{stderr}"
    );
    assert!(!output.exists());
    assert_refused(
        &run("f8"),
        "unknown precision `f8` (f32, tf32, bf16 or f16)",
    );
}
