//! The grid expanded into runs: one `sesame finetune` per (experiment, task, variant, σ, seed), each in its own
//! run directory; a run with a `report.json` is read, not repeated; an interrupted one resumes from its checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::choice::{self, Chosen};
use super::config::{overlay, slug, Experiment, ExperimentKind, GridConfig, VariantSpec};
pub use super::shard::Shard;
use crate::error::SesameError;
use sesame::backend::Backend;
use sesame_core::SesameConfig;
use sesame_train::job::FinetuneJob;
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
    /// The backend the run's `config.json` records (`unrecorded` in records from before it did).
    pub backend: String,
    /// Mean SE gate per layer on dev at the best epoch, when the variant has a gate.
    pub se_gates: Option<Vec<f64>>,
    /// The standard deviation of each layer's gate across dev examples at the best epoch.
    pub gate_spread: Option<Vec<f64>>,
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

/// The runs a grid declares at this moment, and the choices on dev it has made.
#[derive(Debug, Clone)]
pub struct Plan {
    pub runs: Vec<Run>,
    pub choices: Vec<Chosen>,
    /// Choosing variants whose selection has not finished (`experiment/variant`), with no runs yet.
    pub waiting: Vec<String>,
}

/// Every fine-tuning run the grid declares now, in a fixed order (see [`plan`]).
pub fn expand(
    config: &GridConfig,
    grid_path: &Path,
    runs_dir: &Path,
) -> Result<Vec<Run>, SesameError> {
    Ok(plan(config, grid_path, runs_dir)?.runs)
}

/// Expands the grid: every variant with its own settings, in file order, then every variant that chooses its
/// settings on dev whose selection has finished. Choices come last so that the index of every other run (which
/// decides its shard) never changes when a selection finishes.
pub fn plan(config: &GridConfig, grid_path: &Path, runs_dir: &Path) -> Result<Plan, SesameError> {
    let mut runs = Vec::new();
    let grids = || {
        config
            .experiments
            .iter()
            .filter(|e| e.kind == ExperimentKind::Grid)
    };
    for e in grids() {
        for task in experiment_tasks(e, grid_path)? {
            for v in e.variants.iter().filter(|v| v.choose.is_none()) {
                let declared = Declared::new(config, grid_path, e, task, v)?;
                runs.extend(declared.runs(config, runs_dir, &v.label, None));
            }
        }
    }
    let collected = collect(&runs)?;
    let (mut choices, mut waiting, mut chosen_runs) = (Vec::new(), Vec::new(), Vec::new());
    for e in grids() {
        for v in &e.variants {
            let Some(spec) = &v.choose else { continue };
            let Some(chosen) = choice::decide(config, spec, &runs, &collected) else {
                waiting.push(format!("{}/{}", e.id, v.label));
                continue;
            };
            for task in experiment_tasks(e, grid_path)? {
                let declared = Declared::new(config, grid_path, e, task, &chosen.variant)?;
                let selection: Vec<&Run> = runs
                    .iter()
                    .filter(|r| r.experiment == chosen.selection)
                    .collect();
                chosen_runs.extend(declared.runs(
                    config,
                    runs_dir,
                    &v.label,
                    Some((chosen.sigma, &selection)),
                ));
            }
            choices.push(Chosen {
                experiment: e.id.clone(),
                label: v.label.clone(),
                ..chosen
            });
        }
    }
    runs.extend(chosen_runs);
    Ok(Plan {
        runs,
        choices,
        waiting,
    })
}

fn experiment_tasks(e: &Experiment, grid_path: &Path) -> Result<Vec<Task>, SesameError> {
    e.tasks
        .iter()
        .map(|name| {
            Task::parse(name).ok_or_else(|| input_err(grid_path, format!("unknown task `{name}`")))
        })
        .collect()
}

/// A variant's settings on one task of one experiment: the recipe, the model, the σ values it is run at.
struct Declared<'a> {
    experiment: &'a Experiment,
    task: Task,
    recipe: TrainConfig,
    model: SesameConfig,
    sigmas: Vec<Option<f64>>,
}

/// A chosen variant's σ, and the runs of its selection (one of them is reused where it is the same job).
type Reuse<'r> = (Option<f64>, &'r [&'r Run]);

impl<'a> Declared<'a> {
    fn new(
        config: &GridConfig,
        grid_path: &Path,
        e: &'a Experiment,
        task: Task,
        v: &VariantSpec,
    ) -> Result<Self, SesameError> {
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
        let sigmas = if model.attention.blur.is_some() && !e.sigmas.is_empty() {
            e.sigmas.iter().map(|s| Some(*s)).collect()
        } else {
            vec![None]
        };
        Ok(Declared {
            experiment: e,
            task,
            recipe,
            model,
            sigmas,
        })
    }

    /// One run per σ and seed, under `label`. With `chosen`, only its σ, and the selection's own run where it
    /// made the same one.
    fn runs(
        &self,
        config: &GridConfig,
        runs_dir: &Path,
        label: &str,
        chosen: Option<Reuse<'_>>,
    ) -> Vec<Run> {
        let e = self.experiment;
        let sigmas = match &chosen {
            Some((sigma, _)) => vec![*sigma],
            None => self.sigmas.clone(),
        };
        let mut out = Vec::new();
        for sigma in sigmas {
            for &seed in e.seeds.as_ref().unwrap_or(&config.seeds) {
                let recipe = TrainConfig {
                    seed,
                    ..self.recipe.clone()
                };
                let mut model = self.model.clone();
                if let (Some(blur), Some(s)) = (model.attention.blur.as_mut(), sigma) {
                    blur.sigma = s;
                }
                let variant_dir = match sigma {
                    Some(s) => format!("{}-sigma{s}", slug(label)),
                    None => slug(label),
                };
                let dir = runs_dir
                    .join(&e.id)
                    .join(self.task.name())
                    .join(variant_dir)
                    .join(format!("seed{seed}"));
                let (model_dir, data_dir) = (&config.model, &config.data_dir);
                let mut job = FinetuneJob {
                    recipe,
                    model,
                    ..FinetuneJob::new::<Backend>(self.task, model_dir, data_dir, &dir)
                };
                // The selection's run of the same job (task, seed, recipe, model) is this run: reuse it.
                let made = chosen.as_ref().and_then(|(_, selection)| {
                    selection
                        .iter()
                        .find(|r| r.task == self.task && r.job.differences(&job).is_empty())
                });
                let dir = match made {
                    Some(r) => {
                        job.output_dir = r.dir.clone();
                        r.dir.clone()
                    }
                    None => dir,
                };
                out.push(Run {
                    experiment: e.id.clone(),
                    task: self.task,
                    variant: label.to_string(),
                    sigma,
                    seed,
                    dir,
                    job,
                });
            }
        }
        out
    }
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
    let se_gates = read_layers(&run.dir.join("best").join("se_gates.json"))?;
    let gate_spread = read_layers(&run.dir.join("best").join("se_gate_spread.json"))?;
    Ok(Some(RunResult {
        score,
        wall_seconds: report.wall_seconds,
        backend: FinetuneJob::recorded_backend(&dir)?.unwrap_or_else(|| "unrecorded".into()),
        se_gates,
        gate_spread,
    }))
}

/// A per-layer list of the best model (`None` when the run has no gate, or predates the file).
fn read_layers(path: &Path) -> Result<Option<Vec<f64>>, SesameError> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str::<Vec<f64>>(&t)
            .map(Some)
            .map_err(|e| input_err(path, e.to_string())),
        Err(_) => Ok(None),
    }
}

/// A run directory is only reused for the cell it was made for: its recorded recipe and model config must be
/// the ones the grid declares now (directory names do not encode the recipe, so an edited grid would otherwise
/// mix old and new runs silently).
pub(super) fn check_same_job(run: &Run) -> Result<(), SesameError> {
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

/// Scores of one table cell (experiment, task, variant, σ) over seeds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CellScores {
    pub seeds: Vec<u64>,
    pub scores: Vec<f64>,
    pub dirs: Vec<PathBuf>,
    pub wall_seconds: f64,
    /// Per finished seed, the backend that ran it.
    pub backends: Vec<String>,
    /// Per-seed mean SE gates.
    pub gates: Vec<Vec<f64>>,
    /// Per-seed spread of the gates across dev examples.
    pub gate_spreads: Vec<Vec<f64>>,
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
                cell.backends.push(r.backend);
                if let Some(g) = r.se_gates {
                    cell.gates.push(g);
                }
                if let Some(g) = r.gate_spread {
                    cell.gate_spreads.push(g);
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
