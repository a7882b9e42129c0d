//! What the command-line tests share: the `sesame` binary of this build, run as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

/// The `sesame` binary of this build, ready for arguments and environment.
pub fn sesame_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
}

/// `sesame args…`, run to completion.
pub fn sesame(args: &[&str]) -> Output {
    sesame_command().args(args).output().expect("sesame runs")
}

/// A path as a command-line argument.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// `sesame evaluate` of the exported model `best` on `glue`'s dev set at `max_len`, checked to score every metric
/// the training run recorded as its best (`recorded`, the report's `best_metrics`) to 1e-9. Returns its JSON.
pub fn evaluate_as_recorded(
    best: &Path,
    glue: &Path,
    max_len: &str,
    recorded: &serde_json::Value,
) -> serde_json::Value {
    let out = sesame(&[
        "evaluate",
        "--model",
        s(best),
        "--data-dir",
        s(glue),
        "--max-seq-length",
        max_len,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evaluated: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let metrics = evaluated["metrics"].as_object().expect("metrics");
    assert!(!metrics.is_empty());
    for (name, value) in metrics {
        let got = value.as_f64().expect("number");
        let want = recorded[name]
            .as_f64()
            .unwrap_or_else(|| panic!("training recorded no `{name}`: {recorded}"));
        assert!(
            (got - want).abs() < 1e-9,
            "{name}: evaluate {got}, training {want}"
        );
    }
    evaluated
}
