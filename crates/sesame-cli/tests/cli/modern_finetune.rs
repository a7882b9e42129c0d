//! ModernBERT and DeBERTa-v3 through the command line's whole workflow: `sesame finetune` with the baseline and
//! the SesameBERT preset (SE gate over the layers, blur on the context), the best model exported, and
//! `sesame evaluate` of that export scoring what training recorded.

use sesame_testkit::{shared_dir, temp_dir};

use crate::common::{evaluate_as_recorded, s, sesame};

#[test]
fn modernbert_and_deberta_fine_tune_with_every_preset_and_evaluate_as_recorded() {
    let scratch = temp_dir("modern-finetune");
    let glue = shared_dir().join("data/glue");
    for kind in ["tiny-modernbert", "tiny-deberta-v3"] {
        let model = shared_dir().join("models").join(kind);
        for variant in ["baseline", "sesamebert"] {
            let run = scratch.path().join(format!("{kind}-{variant}"));
            let out = sesame(&[
                "finetune",
                "--task",
                "rte",
                "--model",
                s(&model),
                "--data-dir",
                s(&glue),
                "--output-dir",
                s(&run),
                "--variant",
                variant,
                "--epochs",
                "1",
                "--max-train-samples",
                "32",
                "--batch-size",
                "8",
                "--max-seq-length",
                "64",
                "--learning-rate",
                "1e-3",
                "--json",
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{kind} {variant}: {stderr}");
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("JSON on stdout");
            let meta: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(run.join("best/sesame.json")).expect("sesame.json"),
            )
            .expect("JSON");
            let layers = &meta["model"]["layers"];
            assert_eq!(
                layers["se"].is_null(),
                variant == "baseline",
                "{kind} {variant}: the export records the SE gate: {layers}"
            );
            evaluate_as_recorded(&run.join("best"), &glue, "64", &report["best_metrics"]);
        }
    }
}
