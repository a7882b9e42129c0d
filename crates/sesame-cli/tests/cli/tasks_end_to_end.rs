//! Tasks and variants that other tests do not carry through the whole workflow: MNLI (three classes, matched
//! and mismatched dev sets) and QQP (F1) in GLUE's own column layouts, and SSAF with MDG/PDG guiding, each
//! fine-tuned, exported, reloaded by `sesame evaluate` and found to score what training recorded.

use std::path::Path;

use sesame_testkit::{temp_dir, write_tiny_bert};

use crate::common::{evaluate_as_recorded, s, sesame};

fn ok(out: std::process::Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Short sentences that differ row by row.
fn sentence(i: usize, salt: usize) -> String {
    const WORDS: [&str; 12] = [
        "the", "cat", "sat", "on", "a", "mat", "dogs", "run", "fast", "birds", "sing", "loudly",
    ];
    (0..3 + (i + salt) % 5)
        .map(|k| WORDS[(i * 7 + k * 5 + salt) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// `rows` lines of a GLUE file: `header`, then each row from `row(i)`.
fn write_tsv(path: &Path, header: &[&str], rows: usize, row: impl Fn(usize) -> Vec<String>) {
    let mut text = header.join("\t") + "\n";
    for i in 0..rows {
        let fields = row(i);
        assert_eq!(fields.len(), header.len());
        text += &(fields.join("\t") + "\n");
    }
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
}

/// MNLI's train and dev layouts (parses are data the reader must skip over).
fn write_mnli(glue: &Path) {
    const LABELS: [&str; 3] = ["entailment", "neutral", "contradiction"];
    let lead = [
        "index",
        "promptID",
        "pairID",
        "genre",
        "sentence1_binary_parse",
        "sentence2_binary_parse",
    ];
    let parse = [
        "sentence1_parse",
        "sentence2_parse",
        "sentence1",
        "sentence2",
    ];
    let row = |i: usize, labels: usize| -> Vec<String> {
        let mut fields: Vec<String> =
            vec![i.to_string(), "1".into(), "1e".into(), "fiction".into()];
        fields.extend([
            "( a )".to_string(),
            "( b )".into(),
            "(ROOT a)".into(),
            "(ROOT b)".into(),
        ]);
        fields.extend([sentence(i, 0), sentence(i, 3)]);
        fields.extend((0..labels).map(|_| LABELS[i % 3].to_string()));
        fields.push(LABELS[i % 3].into());
        fields
    };
    let header = |labels: usize| -> Vec<String> {
        let mut h: Vec<String> = lead.iter().chain(&parse).map(|s| s.to_string()).collect();
        h.extend((1..=labels).map(|k| format!("label{k}")));
        h.push("gold_label".into());
        h
    };
    let dir = glue.join("MNLI");
    let train = header(1);
    write_tsv(
        &dir.join("train.tsv"),
        &train.iter().map(String::as_str).collect::<Vec<_>>(),
        24,
        |i| row(i, 1),
    );
    let dev = header(5);
    let dev: Vec<&str> = dev.iter().map(String::as_str).collect();
    write_tsv(&dir.join("dev_matched.tsv"), &dev, 9, |i| row(i + 100, 5));
    write_tsv(&dir.join("dev_mismatched.tsv"), &dev, 6, |i| {
        row(i + 200, 5)
    });
}

fn write_qqp(glue: &Path) {
    let header = [
        "id",
        "qid1",
        "qid2",
        "question1",
        "question2",
        "is_duplicate",
    ];
    let row = |i: usize| -> Vec<String> {
        vec![
            i.to_string(),
            (2 * i).to_string(),
            (2 * i + 1).to_string(),
            sentence(i, 1),
            sentence(i, 1 + i % 2),
            (i % 2).to_string(),
        ]
    };
    write_tsv(&glue.join("QQP/train.tsv"), &header, 24, row);
    write_tsv(&glue.join("QQP/dev.tsv"), &header, 10, |i| row(i + 50));
}

/// Fine-tunes the tiny model on `task` with `extra` flags, evaluates the exported best model on dev at the same
/// length, and checks that evaluation scores what training recorded. Returns the report.
fn finetune_then_evaluate(root: &Path, task: &str, extra: &[&str]) -> serde_json::Value {
    let (model, glue, run) = (
        root.join("model"),
        root.join("glue"),
        root.join(format!("run-{task}")),
    );
    let mut args = vec![
        "finetune",
        "--task",
        task,
        "--model",
        s(&model),
        "--data-dir",
        s(&glue),
        "--output-dir",
        s(&run),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--max-seq-length",
        "32",
        "--learning-rate",
        "1e-3",
        "--json",
    ];
    args.extend_from_slice(extra);
    let report = ok(sesame(&args));
    evaluate_as_recorded(&run.join("best"), &glue, "32", &report["best_metrics"]);
    report
}

#[test]
fn mnli_and_qqp_fine_tune_export_and_evaluate_as_recorded() {
    let scratch = temp_dir("tasks-e2e");
    let root = scratch.path();
    write_tiny_bert(&root.join("model"), 9);
    write_mnli(&root.join("glue"));
    write_qqp(&root.join("glue"));

    let mnli = finetune_then_evaluate(root, "mnli", &[]);
    assert_eq!(mnli["train_examples"], 24);
    assert_eq!(mnli["dev_examples"], 9);
    let mismatched = ok(sesame(&[
        "evaluate",
        "--model",
        s(&root.join("run-mnli/best")),
        "--data-dir",
        s(&root.join("glue")),
        "--split",
        "dev-mismatched",
    ]));
    assert_eq!(mismatched["examples"], 6);
    // Three classes: accuracies of 9 examples are ninths.
    let accuracy = mnli["best_metrics"]["accuracy"].as_f64().expect("accuracy");
    assert!(
        ((accuracy * 9.0) - (accuracy * 9.0).round()).abs() < 1e-9,
        "{accuracy}"
    );

    let qqp = finetune_then_evaluate(root, "qqp", &[]);
    assert_eq!(qqp["dev_examples"], 10);
    assert!(qqp["best_metrics"]["f1"].as_f64().is_some(), "{qqp}");
}

#[test]
fn ssaf_with_attention_guiding_fine_tunes_exports_and_reloads() {
    let scratch = temp_dir("ssaf-guiding-e2e");
    let root = scratch.path();
    write_tiny_bert(&root.join("model"), 9);
    write_qqp(&root.join("glue"));
    let report = finetune_then_evaluate(
        root,
        "qqp",
        &[
            "--sparsegen-lambda",
            "-2",
            "--mdg-weight",
            "0.01",
            "--pdg-weight",
            "0.01",
            "--head-learning-rate",
            "3e-3",
        ],
    );
    assert_eq!(report["train_examples"], 24);
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("run-qqp/best/sesame.json")).expect("sesame.json"),
    )
    .expect("JSON");
    let model = &meta["model"];
    assert!(
        model.to_string().contains("sparsegen"),
        "the export records SSAF: {model}"
    );
    assert!(
        !model["guiding"].is_null(),
        "the export records the guiding losses: {model}"
    );
}
