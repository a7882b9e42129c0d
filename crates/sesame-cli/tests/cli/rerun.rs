//! `sesame rerun`: the job a run directory recorded, trained again from its `config.json`, gives the recorded dev
//! metrics bit for bit (a variant with dropout, a gate and blur, so every random stream is involved); a record that
//! does not match is reported as not reproduced, with exit code 1.

use sesame_testkit::{shared_dir, temp_dir};

use crate::common::{s, sesame};

#[test]
fn a_recorded_run_trained_again_gives_the_same_dev_metrics_and_a_tampered_record_is_caught() {
    let tmp = temp_dir("rerun");
    let (run, again, twice) = (
        tmp.path().join("run"),
        tmp.path().join("again"),
        tmp.path().join("twice"),
    );
    let model = shared_dir().join("models/tiny-roberta");
    let glue = shared_dir().join("data/glue");
    let out = sesame(&[
        "finetune",
        "--task",
        "RTE",
        "--model",
        s(&model),
        "--data-dir",
        s(&glue),
        "--output-dir",
        s(&run),
        "--variant",
        "sesamebert",
        "--epochs",
        "2",
        "--max-train-samples",
        "96",
        "--max-seq-length",
        "48",
        "--seed",
        "7",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sesame(&["rerun", s(&run), "--output-dir", s(&again)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("reproduces") && !stdout.contains("DIFFERENT"),
        "{stdout}"
    );
    // The recorded accuracy moved by one unit in the last place: the rerun must say so and fail.
    let path = run.join("report.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let accuracy = report["best_metrics"]["accuracy"]
        .as_f64()
        .expect("accuracy");
    report["best_metrics"]["accuracy"] = f64::from_bits(accuracy.to_bits() + 1).into();
    std::fs::write(&path, serde_json::to_string(&report).unwrap()).unwrap();
    let out = sesame(&["rerun", s(&run), "--output-dir", s(&twice)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("DIFFERENT"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not reproduce"));
}
