//! The `sesame` workflow end to end on a few rows of real data: finetune → evaluate → predict →
//! glue-submission → hans, with the MiniLM checkpoint.

use sesame_testkit::{head_lines, minilm_dir, shared_dir, temp_dir};

use crate::common::{evaluate_as_recorded, s, sesame};

fn ok(out: std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

// Long: the workflow a user runs, command after command, each reading what the one before wrote.
#[test]
fn finetune_evaluate_predict_submit_and_hans() {
    let scratch = temp_dir("workflow");
    let root = scratch.path();
    let glue = root.join("glue");
    std::fs::create_dir_all(glue.join("RTE")).expect("dir");
    let src = shared_dir().join("data/glue/RTE");
    head_lines(&src.join("train.tsv"), &glue.join("RTE/train.tsv"), 16);
    head_lines(&src.join("dev.tsv"), &glue.join("RTE/dev.tsv"), 12);
    head_lines(&src.join("test.tsv"), &glue.join("RTE/test.tsv"), 10);
    let hans = root.join("hans.tsv");
    head_lines(
        &shared_dir().join("data/hans/heuristics_evaluation_set.derived.tsv"),
        &hans,
        12,
    );
    let run = root.join("run");

    let report = ok(sesame(&[
        "finetune",
        "--task",
        "rte",
        "--model",
        s(&minilm_dir()),
        "--data-dir",
        s(&glue),
        "--output-dir",
        s(&run),
        "--variant",
        "sesamebert",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--max-seq-length",
        "64",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&report).expect("report JSON");
    assert_eq!(report["train_examples"], 16);
    assert!(report["best_metrics"]["accuracy"].as_f64().is_some());
    let best = run.join("best");

    // The same model on the same dev rows at the same length: evaluate agrees with what training recorded.
    let metrics = evaluate_as_recorded(&best, &glue, "64", &report["best_metrics"]);
    assert_eq!(metrics["examples"], 12);

    let predictions = root.join("predictions");
    std::fs::create_dir_all(&predictions).expect("dir");
    ok(sesame(&[
        "predict",
        "--model",
        s(&best),
        "--data-dir",
        s(&glue),
        "--output",
        s(&predictions.join("RTE.tsv")),
    ]));
    let rte = std::fs::read_to_string(predictions.join("RTE.tsv")).expect("predictions");
    assert_eq!(rte.lines().count(), 11);
    assert!(rte
        .lines()
        .skip(1)
        .all(|l| l.ends_with("\tentailment") || l.ends_with("\tnot_entailment")));

    // 10 rows are not the 3000 of the GLUE test set: the submission check says so.
    let out = sesame(&[
        "glue-submission",
        "--predictions-dir",
        s(&predictions),
        "--output",
        s(&root.join("glue.zip")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("RTE.tsv has 10 predictions"),
        "{stderr}"
    );

    let hans_out = root.join("hans");
    let table = ok(sesame(&[
        "hans",
        "--model",
        s(&best),
        "--hans-file",
        s(&hans),
        "--output-dir",
        s(&hans_out),
    ]));
    assert!(table.contains("lexical_overlap"), "{table}");
    let file =
        std::fs::read_to_string(hans_out.join("hans_predictions.txt")).expect("hans predictions");
    assert!(file.starts_with("pairID,gold_label\nex0,"));
    assert_eq!(file.lines().count(), 13);
}
