//! `sesame report` over run directories made by hand: the tables hold the right mean ± std, σ is chosen on dev,
//! figures are written, a second run reproduces every byte, and a run directory from another recipe is refused.

use std::path::Path;

use sesame::backend::{self, AutodiffBackend};
use sesame_cli::report::config::GridConfig;
use sesame_cli::report::{generate, runs, ReportPaths};
use sesame_testkit::temp_dir;
use sesame_train::RunReport;

const GRID: &str = r#"
title = "Test grid"
model = "models/none"
data_dir = "glue"
hans_file = "hans.tsv"
seeds = [1, 2, 3]
recipe = { epochs = 1 }
conclusion = "Nothing to conclude."

[[experiment]]
id = "t2"
title = "Blur"
tasks = ["RTE", "MRPC"]
sigmas = [0.1, 0.5]
variants = [
  { label = "baseline" },
  { label = "blur on values", preset = "blur", model = { attention = { blur = { target = "value" } } } },
]

[[experiment]]
id = "hans"
kind = "hans"
title = "HANS"
from = "t2"
variants = [{ label = "baseline" }]
"#;

/// Writes a finished run: its config as the grid declares it, and a dev score. The RTE runs record the backend
/// that ran them, as `sesame finetune` does; the MRPC runs stand for records from before it did.
pub(crate) fn finish(run: &runs::Run, score: f64, gates: Option<&[f64]>) {
    std::fs::create_dir_all(run.dir.join("best")).unwrap();
    let mut config = serde_json::to_value(&run.job).unwrap();
    if run.task.name() == "RTE" {
        config["backend"] = "flex".into();
    }
    std::fs::write(
        run.dir.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let metric = sesame_train::metrics::selection_metric(run.task);
    let report = RunReport {
        task: run.task,
        run_dir: run.dir.clone(),
        best_epoch: Some(0),
        best_metrics: [(metric.to_string(), score)].into(),
        final_metrics: [(metric.to_string(), score)].into(),
        train_examples: 32,
        dev_examples: 16,
        skipped_rows: 0,
        wall_seconds: 60.0,
        startup: Default::default(),
    };
    std::fs::write(
        run.dir.join("report.json"),
        serde_json::to_string(&report).unwrap(),
    )
    .unwrap();
    if let Some(g) = gates {
        std::fs::write(
            run.dir.join("best/se_gates.json"),
            serde_json::to_string(g).unwrap(),
        )
        .unwrap();
    }
}

fn setup(root: &Path) -> (ReportPaths, Vec<runs::Run>) {
    let grid = root.join("grid.toml");
    std::fs::write(&grid, GRID).unwrap();
    let paths = ReportPaths {
        grid: grid.clone(),
        runs: root.join("runs"),
        output: root.join("out/results.md"),
    };
    let config = GridConfig::from_file(&grid).unwrap();
    let all = runs::expand(&config, &grid, &paths.runs).unwrap();
    (paths, all)
}

#[test]
fn report_tables_sigma_choice_and_reproducibility() {
    let tmp = temp_dir("report");
    let (paths, all) = setup(tmp.path());
    // 2 tasks × (baseline + blur at 2 σ) × 3 seeds.
    assert_eq!(all.len(), 2 * 3 * 3);
    for run in &all {
        let base = match (run.task.name(), run.sigma) {
            ("RTE", None) => 0.50,
            ("RTE", Some(s)) if s < 0.2 => 0.60,
            ("RTE", Some(_)) => 0.55,
            (_, None) => 0.80,
            (_, Some(s)) if s < 0.2 => 0.70,
            (_, Some(_)) => 0.85,
        };
        // Seeds 1, 2, 3 → base − 1, base, base + 1 points: mean = base, sample std = 1 point.
        let score = base + (run.seed as f64 - 2.0) / 100.0;
        finish(run, score, run.sigma.map(|_| [0.5, 0.75].as_slice()));
    }
    let device = backend::device();
    let md = generate::<AutodiffBackend>(&paths, false, &device).unwrap();
    // σ chosen on dev per task: 0.1 on RTE (60 > 55), 0.5 on MRPC (85 > 70).
    assert!(
        md.contains("| baseline | 50.00 ± 1.00 (3) | 80.00 ± 1.00 (3) |"),
        "{md}"
    );
    assert!(
        md.contains("| blur on values | 60.00 ± 1.00 (3), σ = 0.1 | 85.00 ± 1.00 (3), σ = 0.5 |"),
        "{md}"
    );
    assert!(md.contains("| blur on values, σ = 0.5 | 55.00 ± 1.00 (3) | 85.00 ± 1.00 (3) |"));
    assert!(md.contains("| blur on values | 0.500 ± 0.000 | 0.750 ± 0.000 |"));
    assert!(md.contains("from the 18 run directories"));
    assert!(
        md.contains("on the backends flex (9 runs), unrecorded (9 runs)."),
        "the backends as the run directories record them: {md}"
    );
    assert!(md.contains("No HANS evaluation has finished yet."));
    assert!(md.contains("## Conclusion\n\nNothing to conclude."));
    let figures = paths.output.parent().unwrap().join("figures");
    for f in [
        "t2-rte-seeds.svg",
        "t2-mrpc-sigma.svg",
        "t2-rte-se-gates.svg",
    ] {
        let svg = std::fs::read_to_string(figures.join(f)).unwrap();
        assert!(svg.starts_with("<svg"), "{f}");
        assert!(md.contains(&format!("(figures/{f})")), "{f} not linked");
    }
    // Re-running over the same directories reproduces the report and the figures byte for byte.
    let snapshot = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = (snapshot(&figures), std::fs::read(&paths.output).unwrap());
    generate::<AutodiffBackend>(&paths, false, &device).unwrap();
    assert_eq!(
        before,
        (snapshot(&figures), std::fs::read(&paths.output).unwrap())
    );
}

#[test]
fn report_refuses_runs_made_with_another_recipe() {
    let tmp = temp_dir("report");
    let (paths, all) = setup(tmp.path());
    let mut stale = all[0].clone();
    stale.job.recipe.epochs = 3;
    finish(&stale, 0.5, None);
    let err = generate::<AutodiffBackend>(&paths, false, &backend::device())
        .expect_err("a run from another recipe must be refused");
    let text = err.to_string();
    assert!(
        text.contains("config.json") && text.contains("recipe"),
        "{text}"
    );
}

#[test]
fn grid_file_errors_name_the_problem() {
    let tmp = temp_dir("report");
    let cases = [
        (
            GRID.replace("\"RTE\", \"MRPC\"", "\"RTE\", \"NOPE\""),
            "unknown task `NOPE`",
        ),
        (
            GRID.replace("seeds = [1, 2, 3]", "seeds = []"),
            "`seeds` is empty",
        ),
        (
            GRID.replace("from = \"t2\"", "from = \"t9\""),
            "no grid experiment `t9`",
        ),
        (
            GRID.replace("title = \"Test grid\"", "titel = \"x\""),
            "unknown field `titel`",
        ),
    ];
    for (text, want) in cases {
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let err = GridConfig::from_file(&path).expect_err(want).to_string();
        assert!(err.contains(want) && err.contains("bad.toml"), "{err}");
    }
}

#[test]
fn typed_recipe_and_variant_tables_resolve_and_typos_are_errors() {
    let tmp = temp_dir("report");
    let (_, all) = setup(tmp.path());
    let blurred = all
        .iter()
        .find(|r| r.variant == "blur on values" && r.sigma == Some(0.5) && r.seed == 2)
        .expect("a blurred cell");
    // Over the preset: the table's target, the cell's σ and seed, the grid's recipe over BERT's defaults.
    let blur = blurred.job.model.attention.blur.clone().expect("blur");
    assert_eq!(blur.target, sesame::BlurTarget::Value);
    assert_eq!(blur.sigma, 0.5);
    assert_eq!(blurred.job.recipe.epochs, 1);
    assert_eq!(blurred.job.recipe.seed, 2);
    assert_eq!(blurred.job.recipe.learning_rate, 3e-5);
    assert!(
        blurred.job.model.layers.se.is_none(),
        "the blur preset has no gate"
    );

    for (text, want) in [
        (
            GRID.replace("recipe = { epochs = 1 }", "recipe = { epoch = 1 }"),
            "recipe: unknown field `epoch`",
        ),
        (
            GRID.replace("{ blur = { target", "{ blurr = { target"),
            "model: unknown field `attention.blurr`",
        ),
    ] {
        let grid = tmp.path().join("typo.toml");
        std::fs::write(&grid, text).unwrap();
        let config = GridConfig::from_file(&grid).unwrap();
        let err = runs::expand(&config, &grid, tmp.path())
            .expect_err(want)
            .to_string();
        assert!(err.contains(want) && err.contains("typo.toml"), "{err}");
    }
}
