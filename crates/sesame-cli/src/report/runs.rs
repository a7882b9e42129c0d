//! The grid expanded into runs: one `sesame finetune` per (experiment, task, variant, σ, seed), each in its own
//! run directory, plus HANS evaluations of chosen RTE models. A run whose `report.json` exists is complete and
//! is read, not repeated; an interrupted one resumes from its last checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use clap::Parser;
use serde::Serialize;

use super::config::{slug, Experiment, ExperimentKind, GridConfig};
use crate::error::SesameError;
use crate::options::{RecipeArgs, VariantArgs};
use crate::progress::TrainProgress;
use sesame_train::hans::HansReport;
use sesame_train::job::{finetune, FinetuneJob};
use sesame_train::metrics::selection_metric;
use sesame_train::run::{RunDir, CONFIG, REPORT};
use sesame_train::Task;

/// The flags of one cell, parsed exactly as `sesame finetune` parses them (later flags win).
#[derive(Parser, Debug)]
#[command(no_binary_name = true, args_override_self = true)]
struct CellFlags {
    #[command(flatten)]
    variant: VariantArgs,
    #[command(flatten)]
    recipe: RecipeArgs,
}

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

fn input_err(path: &Path, message: String) -> SesameError {
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
                let flags = |extra: &[String]| -> Result<CellFlags, SesameError> {
                    let all: Vec<String> = config
                        .recipe
                        .iter()
                        .chain(&e.recipe)
                        .chain(&v.args)
                        .chain(extra)
                        .cloned()
                        .collect();
                    CellFlags::try_parse_from(&all).map_err(|err| {
                        input_err(
                            grid_path,
                            format!("experiment `{}`, variant `{}`: {err}", e.id, v.label),
                        )
                    })
                };
                let base = flags(&[])?;
                let blurred = base
                    .variant
                    .resolve(task.num_labels())?
                    .attention
                    .blur
                    .is_some();
                let sigmas: Vec<Option<f64>> = if blurred && !e.sigmas.is_empty() {
                    e.sigmas.iter().map(|s| Some(*s)).collect()
                } else {
                    vec![None]
                };
                for sigma in sigmas {
                    for &seed in &config.seeds {
                        let mut extra = vec!["--seed".to_string(), seed.to_string()];
                        if let Some(s) = sigma {
                            extra.extend(["--blur-sigma".to_string(), s.to_string()]);
                        }
                        let cell = flags(&extra)?;
                        let variant_dir = match sigma {
                            Some(s) => format!("{}-sigma{s}", slug(&v.label)),
                            None => slug(&v.label),
                        };
                        let dir = runs_dir
                            .join(&e.id)
                            .join(task.name())
                            .join(variant_dir)
                            .join(format!("seed{seed}"));
                        let job = FinetuneJob {
                            task,
                            model_dir: config.model.clone(),
                            data_dir: config.data_dir.clone(),
                            output_dir: dir.clone(),
                            recipe: cell.recipe.resolve(),
                            model: cell.variant.resolve(task.num_labels())?,
                            resume: true,
                            skip_malformed: false,
                            backend: sesame::backend::NAME.to_string(),
                            dropout_masks: sesame::backend::DROPOUT_MASKS,
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
    if !recorded.same_training(&run.job) {
        let show = |job: &FinetuneJob| {
            serde_json::json!({"task": job.task, "recipe": job.recipe, "model": job.model})
                .to_string()
        };
        return Err(input_err(
            &path,
            format!(
                "this run was made with a different task, recipe or model than the grid now declares; move \
                 the run directory away or restore the grid (recorded: {}, declared: {})",
                show(&recorded),
                show(&run.job)
            ),
        ));
    }
    Ok(())
}

/// Runs every unfinished run of the grid, in order.
pub fn execute<B: AutodiffBackend>(runs: &[Run], device: &B::Device) -> Result<(), SesameError> {
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
        finetune::<B>(&run.job, device, &mut progress)?;
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

/// HANS results of one (variant, seed) model.
#[derive(Debug, Clone, Serialize)]
pub struct HansRun {
    pub variant: String,
    pub sigma: String,
    pub seed: u64,
    pub dir: PathBuf,
    pub report: Option<HansReport>,
}

/// The HANS report file of a model directory for a given subsampling.
pub fn hans_report_path(run_dir: &Path, every: usize) -> PathBuf {
    run_dir
        .join(format!("hans-every{every}"))
        .join("hans_report.json")
}

/// The RTE models a HANS experiment evaluates: for each variant, every seed of its dev-chosen σ.
pub fn hans_runs(
    experiment: &Experiment,
    collected: &Collected,
) -> Result<Vec<HansRun>, SesameError> {
    let from = experiment.from.clone().unwrap_or_default();
    let mut out = Vec::new();
    for v in &experiment.variants {
        let Some(sigma) = chosen_sigma(collected, &from, Task::Rte, &v.label) else {
            continue;
        };
        let Some(cell) = collected.get(&(from.clone(), Task::Rte, v.label.clone(), sigma.clone()))
        else {
            continue;
        };
        for (seed, dir) in cell.seeds.iter().zip(&cell.dirs) {
            let path = hans_report_path(dir, experiment.hans_every);
            let report = match std::fs::read_to_string(&path) {
                Ok(t) => Some(
                    serde_json::from_str::<HansReport>(&t)
                        .map_err(|e| input_err(&path, e.to_string()))?,
                ),
                Err(_) => None,
            };
            out.push(HansRun {
                variant: v.label.clone(),
                sigma: sigma.clone(),
                seed: *seed,
                dir: dir.clone(),
                report,
            });
        }
    }
    Ok(out)
}

/// Evaluates HANS for every model of `runs` that has no report yet.
pub fn execute_hans(
    runs: &[HansRun],
    hans_file: &Path,
    every: usize,
    max_seq_length: usize,
) -> Result<(), SesameError> {
    for run in runs.iter().filter(|r| r.report.is_none()) {
        eprintln!(
            "[report] HANS (every {every}th example) for {} seed {}",
            run.variant, run.seed
        );
        let outcome = crate::hans_eval::evaluate_hans(
            &run.dir.join("best"),
            hans_file,
            max_seq_length,
            64,
            every,
        )?;
        outcome.write(
            hans_report_path(&run.dir, every)
                .parent()
                .unwrap_or(&run.dir),
        )?;
    }
    Ok(())
}

/// The model a submission uses for one task: the best dev seed of the variant at its chosen σ.
#[derive(Debug, Clone, Serialize)]
pub struct SubmissionModel {
    pub task: Task,
    pub sigma: String,
    pub seed: u64,
    pub score: f64,
    pub dir: PathBuf,
}

/// One model per task of the `from` experiment, for a submission experiment.
pub fn submission_models(
    experiment: &Experiment,
    collected: &Collected,
    config: &GridConfig,
) -> Vec<SubmissionModel> {
    let from = experiment.from.clone().unwrap_or_default();
    let Some(source) = config.experiments.iter().find(|e| e.id == from) else {
        return Vec::new();
    };
    let Some(variant) = experiment.variants.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in source.tasks.iter().filter_map(|t| Task::parse(t)) {
        let Some(sigma) = chosen_sigma(collected, &from, task, &variant.label) else {
            continue;
        };
        let Some(cell) = collected.get(&(from.clone(), task, variant.label.clone(), sigma.clone()))
        else {
            continue;
        };
        let best = cell.scores.iter().zip(&cell.seeds).zip(&cell.dirs).fold(
            None,
            |best: Option<(f64, u64, &PathBuf)>, ((s, seed), dir)| match best {
                Some((b, _, _)) if b >= *s => best,
                _ => Some((*s, *seed, dir)),
            },
        );
        if let Some((score, seed, dir)) = best {
            out.push(SubmissionModel {
                task,
                sigma: sigma.clone(),
                seed,
                score,
                dir: dir.clone(),
            });
        }
    }
    out
}

/// The prediction file name of a task in the submission (`RTE.tsv`; `MNLI-m.tsv` for MNLI).
pub fn submission_file(task: Task) -> Option<&'static str> {
    sesame_train::submission::FILES
        .iter()
        .find(|f| f.task == task)
        .map(|f| f.name)
}

/// Writes the test predictions that are missing, then validates all of them and writes the zip.
pub fn execute_submission(
    models: &[SubmissionModel],
    data_dir: &Path,
    out_dir: &Path,
    max_seq_length: usize,
) -> Result<(), SesameError> {
    let predictions = out_dir.join("predictions");
    std::fs::create_dir_all(&predictions).map_err(|e| SesameError::Output {
        path: predictions.clone(),
        message: e.to_string(),
    })?;
    for m in models {
        let Some(name) = submission_file(m.task) else {
            continue;
        };
        let path = predictions.join(name);
        if path.exists() {
            continue;
        }
        eprintln!(
            "[report] GLUE test predictions for {} from {}",
            m.task.name(),
            m.dir.display()
        );
        let run = crate::predict::run_on_split(
            &m.dir.join("best"),
            Some(m.task),
            data_dir,
            sesame_train::Split::Test,
            max_seq_length,
            64,
        )?;
        let rows = crate::predict::submission_rows(run.task, &run.outputs);
        sesame_train::fsio::write_atomic(&path, rows.as_bytes())?;
    }
    sesame_train::submission::write_submission(
        &predictions,
        &out_dir.join("glue-submission.zip"),
        false,
    )?;
    Ok(())
}
