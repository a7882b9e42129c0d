//! `sesame encode` end to end: pairs in, the hidden states of `transformers` out.

use std::path::{Path, PathBuf};

use sesame_testkit::{masked_max_diff, max_diff, minilm_dir, temp_dir, Golden};

use crate::common::sesame_command;

/// Writes the golden file's sentence pairs as a two-column TSV.
fn pairs_tsv(golden: &Golden, dir: &Path) -> PathBuf {
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&golden.metadata("pairs")).expect("pairs JSON");
    assert_eq!(pairs.len(), 8);
    let mut text = String::from("sentence1\tsentence2\n");
    for (a, b) in &pairs {
        assert!(!a.contains(['\t', '\n']) && !b.contains(['\t', '\n']));
        text.push_str(&format!("{a}\t{b}\n"));
    }
    let path = dir.join("pairs.tsv");
    std::fs::write(&path, text).expect("write TSV");
    path
}

fn run_encode(input: &Path, output: &Path, extra: &[&str]) {
    let out = sesame_command()
        .args(["encode", "--model"])
        .arg(minilm_dir())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(["--batch-size", "3"])
        .args(extra)
        .output()
        .expect("sesame runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sesame encode` of `input` with the model in `model` into `output`, run to completion.
fn encode_model(model: &Path, input: &Path, output: &Path) -> std::process::Output {
    sesame_command()
        .args(["encode", "--model"])
        .arg(model)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .output()
        .expect("sesame runs")
}

/// Golden `[8, 128, d]` cut to the first `n` positions of every row.
fn cut(data: &[f32], rows: usize, full: usize, n: usize, d: usize) -> Vec<f32> {
    (0..rows)
        .flat_map(|r| data[r * full * d..(r * full + n) * d].iter().copied())
        .collect()
}

fn compare(output: &Path, golden: &Golden, names: &[(String, String)]) {
    let produced = Golden::from_path(output);
    let (shape, ids) = produced.i64("input_ids");
    let (rows, n) = (shape[0], shape[1]);
    let (gshape, gids) = golden.i64("input_ids");
    let full = gshape[1];
    let (_, mask) = produced.i64("attention_mask");
    assert_eq!(ids.len(), rows * n);
    for r in 0..rows {
        assert_eq!(
            ids[r * n..(r + 1) * n],
            gids[r * full..r * full + n],
            "row {r} ids"
        );
        assert!(
            gids[r * full + n..(r + 1) * full].iter().all(|&i| i == 0),
            "file padded to its longest row"
        );
    }
    for (mine, theirs) in names {
        let (s, got) = produced.f32(mine);
        let d = s[2];
        let want = cut(&golden.f32(theirs).1, rows, full, n, d);
        let (real, pad) = masked_max_diff(&got, &want, &mask, d);
        eprintln!("{mine}: real {real:.3e}, pad {pad:.3e}");
        assert!(real <= 1e-4 && pad <= 5e-3, "{mine}: {real} / {pad}");
    }
}

#[test]
fn encode_reproduces_transformers_hidden_states_and_pooler() {
    let golden = Golden::open("minilm_public.safetensors");
    let scratch = temp_dir("encode-plain");
    let dir = scratch.path();
    let output = dir.join("out.safetensors");
    run_encode(&pairs_tsv(&golden, dir), &output, &[]);
    let names: Vec<(String, String)> = (0..=6)
        .map(|i| (format!("hidden_states.{i}"), format!("hidden_states.{i}")))
        .collect();
    compare(&output, &golden, &names);
    let pooled = Golden::from_path(&output).f32("pooler_output").1;
    let diff = max_diff(&pooled, &golden.f32("pooler_output").1);
    assert!(diff <= 1e-4, "pooler {diff}");
}

#[test]
fn encode_blur_flags_reproduce_the_blur_variants() {
    let golden = Golden::open("minilm_public_variants.safetensors");
    for target in ["context", "value"] {
        let scratch = temp_dir(&format!("encode-{target}"));
        let dir = scratch.path();
        let output = dir.join("out.safetensors");
        run_encode(
            &pairs_tsv(&Golden::open("minilm_public.safetensors"), dir),
            &output,
            &[
                "--blur",
                target,
                "--blur-sigma",
                "0.5",
                "--blur-kernel",
                "3",
            ],
        );
        let names: Vec<(String, String)> = [3, 6]
            .iter()
            .map(|i| {
                (
                    format!("hidden_states.{i}"),
                    format!("blur_{target}_k3_s0.5.hidden_states.{i}"),
                )
            })
            .collect();
        compare(&output, &golden, &names);
    }
}

#[test]
fn encode_of_family_classifiers_writes_transformers_logits() {
    let golden = Golden::open("family_public.safetensors");
    let scratch = temp_dir("encode-family");
    let dir = scratch.path();
    let input = pairs_tsv(&golden, dir);
    for kind in ["roberta", "electra", "distilbert"] {
        let model = sesame_testkit::shared_dir()
            .join("models")
            .join(format!("tiny-{kind}"));
        let output = dir.join(format!("{kind}.safetensors"));
        let out = encode_model(&model, &input, &output);
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let produced = Golden::from_path(&output);
        let (shape, logits) = produced.f32("logits");
        assert_eq!(shape, vec![8, 2], "{kind}");
        let diff = max_diff(&logits, &golden.f32(&format!("{kind}.logits")).1);
        eprintln!("{kind}: logits max diff {diff:.3e}");
        assert!(diff < 1e-4, "{kind}: logits differ by {diff}");
        // Only BERT has a pooler.
        assert!(
            !produced.names().contains(&"pooler_output".to_string()),
            "{kind}"
        );
    }
}

/// A `*ForSequenceClassification` checkpoint's head is loaded and used: its tensors are not "unused".
#[test]
fn a_classifier_checkpoints_head_is_not_reported_unused() {
    let tmp = sesame_testkit::temp_dir("encode-head");
    let input = tmp.path().join("in.tsv");
    std::fs::write(&input, "sentence\nsesame opens\n").expect("input");
    for name in ["tiny-roberta", "tiny-electra", "tiny-distilbert"] {
        let out = encode_model(
            &sesame_testkit::shared_dir().join("models").join(name),
            &input,
            &tmp.path().join(format!("{name}.safetensors")),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("unused"), "{name}: {stderr}");
        let logits = Golden::from_path(&tmp.path().join(format!("{name}.safetensors")));
        assert!(
            logits.names().iter().any(|n| n == "logits"),
            "{name}: no logits"
        );
    }
}

/// ModernBERT and DeBERTa-v3 classifiers through `sesame encode`: the token ids, every hidden state as
/// `transformers` returns them (ModernBERT's last after `final_norm`) at real tokens, and the logits, where the
/// golden values are finite (transformers' eager ModernBERT leaves NaN in padded pairs: tests/core/modernbert.rs).
#[test]
fn encode_of_modern_classifiers_writes_transformers_outputs() {
    let golden = Golden::open("modern_public.safetensors");
    let scratch = temp_dir("encode-modern");
    let dir = scratch.path();
    let input = pairs_tsv(&golden, dir);
    for (kind, prefix, layers) in [
        ("tiny-modernbert", "modernbert", 4),
        ("tiny-deberta-v3", "deberta-v3", 2),
    ] {
        let output = dir.join(format!("{kind}.safetensors"));
        let out = encode_model(
            &sesame_testkit::shared_dir().join("models").join(kind),
            &input,
            &output,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{kind}: {stderr}");
        assert!(!stderr.contains("unused"), "{kind}: {stderr}");
        let produced = Golden::from_path(&output);
        assert_eq!(
            produced.i64("input_ids"),
            golden.i64(&format!("{prefix}.input_ids")),
            "{kind}: token ids"
        );
        let mask = golden.i64(&format!("{prefix}.attention_mask")).1;
        for i in 0..=layers {
            let name = format!("hidden_states.{i}");
            let (shape, got) = produced.f32(&name);
            let want = golden.f32(&format!("{prefix}.{name}")).1;
            let d = shape[2];
            let finite: Vec<usize> = (0..mask.len())
                .filter(|&r| mask[r] == 1 && want[r * d..(r + 1) * d].iter().all(|v| v.is_finite()))
                .collect();
            assert!(finite.len() >= 256, "{kind} {name}: {} rows", finite.len());
            let diff = finite
                .iter()
                .map(|&r| max_diff(&got[r * d..(r + 1) * d], &want[r * d..(r + 1) * d]))
                .fold(0f32, f32::max);
            assert!(diff < 1e-4, "{kind} {name}: {diff}");
        }
        let (_, logits) = produced.f32("logits");
        let want = golden.f32(&format!("{prefix}.logits")).1;
        let finite: Vec<usize> = (0..want.len()).filter(|&i| want[i].is_finite()).collect();
        assert!(finite.len() >= 4, "{kind}");
        let diff = finite
            .iter()
            .map(|&i| (logits[i] - want[i]).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "{kind}: logits max diff {diff:.3e} over {} values",
            finite.len()
        );
        assert!(diff < 1e-4, "{kind}: logits differ by {diff}");
    }
}
