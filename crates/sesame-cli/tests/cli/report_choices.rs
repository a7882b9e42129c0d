//! Settings chosen on dev and paired comparisons in `sesame report`: a choosing variant gets its runs only once
//! its selection has every seed, takes the best candidate (mean over seeds, then over tasks), reuses the
//! selection's run where it is the same job, and the report prints the choice, the paired differences against
//! the baseline with their t intervals and verdicts, and the spread of the SE gates.

use std::path::Path;

use sesame::backend::{self, AutodiffBackend};
use sesame_cli::report::config::GridConfig;
use sesame_cli::report::{generate, runs, ReportPaths};
use sesame_testkit::temp_dir;

use crate::report::finish;

const GRID: &str = r#"
title = "Choices"
model = "models/none"
data_dir = "glue"
seeds = [1, 2, 3]
recipe = { epochs = 1 }

[[experiment]]
id = "select"
title = "Selection"
tasks = ["RTE", "MRPC"]
seeds = [1, 2]
sigmas = [0.1, 0.5]
variants = [{ label = "blur", preset = "blur" }]

[[experiment]]
id = "main"
title = "Main"
tasks = ["RTE", "CoLA"]
baseline = "baseline"
variants = [
  { label = "baseline" },
  { label = "blur (chosen)", choose = { experiment = "select" } },
  { label = "SE", preset = "se" },
]
"#;

/// The grid, and its selection finished: σ = 0.5 wins on the mean over tasks (RTE 0.60 vs 0.70, MRPC 0.80 vs
/// 0.75: 0.70 vs 0.725), though it loses on MRPC.
fn setup(root: &Path) -> (ReportPaths, GridConfig, runs::Plan) {
    let grid = root.join("grid.toml");
    std::fs::write(&grid, GRID).unwrap();
    let paths = ReportPaths {
        grid: grid.clone(),
        runs: root.join("runs"),
        output: root.join("out/results.md"),
    };
    let config = GridConfig::from_file(&grid).unwrap();
    let plan = runs::plan(&config, &grid, &paths.runs).unwrap();
    // Selection 2 tasks × 2 σ × 2 seeds, main 2 tasks × 2 variants × 3 seeds; the choice waits.
    assert_eq!(plan.runs.len(), 8 + 12);
    assert_eq!(plan.waiting, vec!["main/blur (chosen)".to_string()]);
    // All but one selection run finished: still waiting.
    let selection: Vec<&runs::Run> = plan
        .runs
        .iter()
        .filter(|r| r.experiment == "select")
        .collect();
    for (i, run) in selection.iter().enumerate() {
        let score = match (run.task.name(), run.sigma) {
            ("RTE", Some(s)) if s < 0.2 => 0.60,
            ("RTE", _) => 0.70,
            (_, Some(s)) if s < 0.2 => 0.80,
            _ => 0.75,
        };
        if i > 0 {
            finish(run, score, None);
        }
    }
    let waiting = runs::plan(&config, &grid, &paths.runs).unwrap();
    assert_eq!(waiting.runs.len(), 20, "a choice must wait for every seed");
    finish(selection[0], 0.60, None);
    let plan = runs::plan(&config, &grid, &paths.runs).unwrap();
    assert!(plan.waiting.is_empty());
    (paths, config, plan)
}

#[test]
fn a_choice_waits_for_its_selection_then_takes_the_best_cell_and_reuses_its_runs() {
    let tmp = temp_dir("report-choices");
    let (paths, _, plan) = setup(tmp.path());
    let chosen: Vec<&runs::Run> = plan
        .runs
        .iter()
        .filter(|r| r.variant == "blur (chosen)")
        .collect();
    assert_eq!(chosen.len(), 2 * 3);
    assert!(chosen.iter().all(|r| r.sigma == Some(0.5)));
    // The choosing runs come after every other run, so no other run changes its index (its shard).
    assert!(plan.runs[..20].iter().all(|r| r.variant != "blur (chosen)"));
    // RTE seeds 1 and 2 at σ = 0.5 are the selection's own runs; seed 3 and CoLA are new.
    for r in &chosen {
        let reused = r.dir.starts_with(paths.runs.join("select"));
        assert_eq!(
            reused,
            r.task.name() == "RTE" && r.seed < 3,
            "{}",
            r.dir.display()
        );
        assert_eq!(r.job.output_dir, r.dir);
        assert!((r.job.model.attention.blur.as_ref().unwrap().sigma - 0.5).abs() < 1e-12);
    }
}

#[test]
fn the_report_prints_choices_paired_differences_and_gate_spread() {
    let tmp = temp_dir("report-paired");
    let (paths, _, plan) = setup(tmp.path());
    // Main: baseline, the chosen blur and SE; SE seed by seed = baseline + 2, 4, 6 points, whose interval still
    // holds 0 with 3 seeds.
    for r in plan.runs.iter().filter(|r| r.experiment == "main") {
        let base = 0.5 + r.seed as f64 / 100.0;
        let (score, spread) = match r.variant.as_str() {
            "baseline" => (base, None),
            "SE" => (base + 0.02 * r.seed as f64, Some([0.001, 0.25])),
            _ => (base + 0.01, None),
        };
        if !r.dir.join("report.json").exists() {
            finish(r, score, spread.map(|_| [0.8, 0.6].as_slice()));
        }
        if let Some(spread) = spread {
            std::fs::write(
                r.dir.join("best/se_gate_spread.json"),
                serde_json::to_string(&spread).unwrap(),
            )
            .unwrap();
        }
    }
    let md = generate::<AutodiffBackend>(&paths, false, &backend::device()).unwrap();
    assert!(
        md.contains("- *blur (chosen)*: chosen on dev in `select` among 2 candidates: blur, σ = 0.5 (mean dev score 72.50: RTE 70.00, MRPC 75.00)."),
        "{md}"
    );
    // SE: differences 2, 4, 6 points: mean 4, sd 2, 4 ± 4.303 · 2 / √3.
    assert!(
        md.contains("| SE | +4.00 [-0.97, +8.97] no difference detectable with 3 seeds |"),
        "{md}"
    );
    assert!(md.contains("Against `baseline`, seed by seed"), "{md}");
    assert!(
        md.contains("| SE | 0.0010 ± 0.0000 | 0.2500 ± 0.0000 |"),
        "{md}"
    );
}

#[test]
fn choices_and_baselines_that_name_nothing_are_errors() {
    let tmp = temp_dir("report-choice-errors");
    let cases = [
        (
            GRID.replace("experiment = \"select\" }", "experiment = \"selekt\" }"),
            "variant `blur (chosen)`: no other grid experiment `selekt`",
        ),
        (
            GRID.replace(
                "experiment = \"select\" }",
                "experiment = \"select\", variants = [\"blurr\"] }",
            ),
            "`select` has no variant `blurr`",
        ),
        (
            GRID.replace(
                "{ label = \"blur (chosen)\",",
                "{ label = \"blur (chosen)\", preset = \"se\",",
            ),
            "remove `preset` and `model`",
        ),
        (
            GRID.replace("baseline = \"baseline\"", "baseline = \"basline\""),
            "`main` has no variant `basline` to compare with",
        ),
    ];
    for (text, want) in cases {
        assert_ne!(text, GRID, "{want}: the replacement did not apply");
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let err = GridConfig::from_file(&path).expect_err(want).to_string();
        assert!(err.contains(want) && err.contains("bad.toml"), "{err}");
    }
}
