//! The grid expanded into runs: one `sesame finetune` per (experiment, task, variant, σ, seed), each in its own
//! run directory, plus HANS evaluations of chosen RTE models. A run whose `report.json` exists is complete and
//! is read, not repeated; an interrupted one resumes from its last checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sesame_core::SesameAutodiffBackend;

use super::config::{overlay, slug, ExperimentKind, GridConfig};
use crate::error::SesameError;
use crate::progress::TrainProgress;
use sesame::backend::Backend;
use sesame_core::SesameConfig;
use sesame_train::job::{finetune, FinetuneJob, Start};
use sesame_train::metrics::selection_metric;
use sesame_train::run::{RunDir, CONFIG, REPORT};
use sesame_train::{Task, TrainConfig};

/// One fine-tuning run of the grid.
#[derive(Debug, Clone)]
pub struct Run {
    pub experiment: String,
    pub task: Task,
    pub variant: String,
    pub sigma: Option<f64>,
    pub seed: u64,
    pub dir: PathBuf,
    pub job: FinetuneJob,
}

/// What a finished run left on disk.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// The task's selection metric on dev at the best epoch (accuracy, F1, MCC or Spearman).
    pub score: f64,
    pub wall_seconds: f64,
    /// Mean SE gate per layer on dev at the best epoch, when the variant has a gate.
    pub se_gates: Option<Vec<f64>>,
}

pub(super) fn input_err(path: &Path, message: String) -> SesameError {
    SesameError::Input {
        path: path.to_path_buf(),
        message,
    }
}

/// σ written as in directory names and tables (`0.3`, `0.01`).
pub fn sigma_label(sigma: Option<f64>) -> String {
    sigma.map_or_else(|| "-".to_string(), |s| format!("{s}"))
}

/// Every fine-tuning run the grid declares, in a fixed order.
pub fn expand(
    config: &GridConfig,
    grid_path: &Path,
    runs_dir: &Path,
) -> Result<Vec<Run>, SesameError> {
    let mut runs = Vec::new();
    for e in config
        .experiments
        .iter()
        .filter(|e| e.kind == ExperimentKind::Grid)
    {
        for task_name in &e.tasks {
            let task = Task::parse(task_name)
                .ok_or_else(|| input_err(grid_path, format!("unknown task `{task_name}`")))?;
            for v in &e.variants {
                let context = |err: String| {
                    input_err(
                        grid_path,
                        format!("experiment `{}`, variant `{}`: {err}", e.id, v.label),
                    )
                };
                let defaults = TrainConfig::for_backend::<Backend>();
                let recipe = overlay(&defaults, &[&config.recipe, &e.recipe])
                    .map_err(|err| context(format!("recipe: {err}")))?;
                let mut model = overlay(
                    &SesameConfig::preset(v.preset, task.num_labels()),
                    &[&v.model],
                )
                .map_err(|err| context(format!("model: {err}")))?;
                model.num_labels = task.num_labels();
                let sigmas: Vec<Option<f64>> =
                    if model.attention.blur.is_some() && !e.sigmas.is_empty() {
                        e.sigmas.iter().map(|s| Some(*s)).collect()
                    } else {
                        vec![None]
                    };
                for sigma in sigmas {
                    for &seed in &config.seeds {
                        let recipe = TrainConfig {
                            seed,
                            ..recipe.clone()
                        };
                        let mut model = model.clone();
                        if let (Some(blur), Some(s)) = (model.attention.blur.as_mut(), sigma) {
                            blur.sigma = s;
                        }
                        let variant_dir = match sigma {
                            Some(s) => format!("{}-sigma{s}", slug(&v.label)),
                            None => slug(&v.label),
                        };
                        let dir = runs_dir
                            .join(&e.id)
                            .join(task.name())
                            .join(variant_dir)
                            .join(format!("seed{seed}"));
                        let (model_dir, data_dir) = (&config.model, &config.data_dir);
                        let job = FinetuneJob {
                            recipe,
                            model,
                            ..FinetuneJob::new::<Backend>(task, model_dir, data_dir, &dir)
                        };
                        runs.push(Run {
                            experiment: e.id.clone(),
                            task,
                            variant: v.label.clone(),
                            sigma,
                            seed,
                            dir,
                            job,
                        });
                    }
                }
            }
        }
    }
    Ok(runs)
}

/// Reads a finished run; `None` while `report.json` is missing.
pub fn read_result(run: &Run) -> Result<Option<RunResult>, SesameError> {
    let dir = RunDir {
        path: run.dir.clone(),
    };
    let Some(report) = dir.report()? else {
        return Ok(None);
    };
    check_same_job(run)?;
    let metric = selection_metric(run.task);
    let score = *report
        .best_metrics
        .get(metric)
        .ok_or_else(|| input_err(&dir.file(REPORT), format!("no best_metrics.{metric}")))?;
    let gates_path = run.dir.join("best").join("se_gates.json");
    let se_gates = match std::fs::read_to_string(&gates_path) {
        Ok(t) => Some(
            serde_json::from_str::<Vec<f64>>(&t)
                .map_err(|e| input_err(&gates_path, e.to_string()))?,
        ),
        Err(_) => None,
    };
    Ok(Some(RunResult {
        score,
        wall_seconds: report.wall_seconds,
        se_gates,
    }))
}

/// A run directory is only reused for the cell it was made for: its recorded recipe and model config must be
/// the ones the grid declares now (directory names do not encode the recipe, so an edited grid would otherwise
/// mix old and new runs silently).
fn check_same_job(run: &Run) -> Result<(), SesameError> {
    let dir = RunDir {
        path: run.dir.clone(),
    };
    let path = dir.file(CONFIG);
    let recorded = FinetuneJob::read(&dir)?
        .ok_or_else(|| input_err(&path, "no recorded job (not a run directory?)".into()))?;
    let differences = recorded.differences(&run.job);
    if !differences.is_empty() {
        return Err(input_err(
            &path,
            format!(
                "this run was made with another task, recipe or model than the grid now declares ({}); move \
                 the run directory away or restore the grid",
                differences.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Runs every unfinished run of the grid, in order.
pub fn execute<B: SesameAutodiffBackend>(
    runs: &[Run],
    device: &B::Device,
) -> Result<(), SesameError> {
    let mut todo = Vec::new();
    for run in runs {
        if run.dir.join(CONFIG).exists() {
            // A finished or interrupted run must belong to this cell before it is reused or resumed.
            check_same_job(run)?;
        }
        if !run.dir.join(REPORT).exists() {
            todo.push(run);
        }
    }
    eprintln!(
        "[report] {} runs in the grid, {} to do",
        runs.len(),
        todo.len()
    );
    for (i, run) in todo.iter().enumerate() {
        let name = format!(
            "[{}/{}] {} {} {} σ={} seed={}",
            i + 1,
            todo.len(),
            run.experiment,
            run.task.name(),
            run.variant,
            sigma_label(run.sigma),
            run.seed
        );
        let mut progress = TrainProgress::new(name);
        // An interrupted run continues from its checkpoint; one killed before its first starts over.
        finetune::<B>(&run.job, Start::ResumeIfPossible, device, &mut progress)?;
    }
    Ok(())
}

/// Scores of one table cell (experiment, task, variant, σ) over seeds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CellScores {
    pub seeds: Vec<u64>,
    pub scores: Vec<f64>,
    pub dirs: Vec<PathBuf>,
    pub wall_seconds: f64,
    /// Per-seed mean SE gates.
    pub gates: Vec<Vec<f64>>,
    /// Seeds whose run has not finished.
    pub missing: Vec<u64>,
}

/// (experiment, task, variant, σ label) → scores.
pub type Collected = BTreeMap<(String, Task, String, String), CellScores>;

/// Gathers the results of every run that has finished.
pub fn collect(runs: &[Run]) -> Result<Collected, SesameError> {
    let mut out = Collected::new();
    for run in runs {
        let cell = out
            .entry((
                run.experiment.clone(),
                run.task,
                run.variant.clone(),
                sigma_label(run.sigma),
            ))
            .or_default();
        match read_result(run)? {
            Some(r) => {
                cell.seeds.push(run.seed);
                cell.scores.push(r.score);
                cell.dirs.push(run.dir.clone());
                cell.wall_seconds += r.wall_seconds;
                if let Some(g) = r.se_gates {
                    cell.gates.push(g);
                }
            }
            None => cell.missing.push(run.seed),
        }
    }
    Ok(out)
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The σ label with the best mean dev score of a variant on a task (the paper chooses σ on dev), among cells
/// with at least one finished run; `-` for variants without a blur.
pub fn chosen_sigma(
    collected: &Collected,
    experiment: &str,
    task: Task,
    variant: &str,
) -> Option<String> {
    collected
        .iter()
        .filter(|((e, t, v, _), c)| {
            e == experiment && *t == task && v == variant && !c.scores.is_empty()
        })
        .map(|((_, _, _, s), c)| (s.clone(), mean_std(&c.scores).0))
        .fold(None, |best: Option<(String, f64)>, (s, m)| match best {
            Some((_, b)) if b >= m => best,
            _ => Some((s, m)),
        })
        .map(|(s, _)| s)
}
