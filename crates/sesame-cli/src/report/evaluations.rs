//! The evaluations a grid runs on its finished models: HANS on the RTE models of chosen variants, and GLUE
//! test predictions of the best dev seed per task for the submission zip.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{Experiment, GridConfig};
use super::runs::{chosen_sigma, input_err, Collected};
use crate::error::SesameError;
use sesame_train::hans::HansReport;
use sesame_train::Task;

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
