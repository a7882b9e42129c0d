//! `sesame report`: runs a declared experiment grid ([`config::GridConfig`]), collects the run directories and
//! writes a Markdown report with SVG figures. Everything in the report is read from the run directories, in a
//! fixed order, so running the report again over the same directories reproduces the same files.

pub mod choice;
pub mod config;
pub mod evaluations;
pub mod figures;
mod markdown;
pub mod paired;
pub mod runs;
pub mod schedule;
pub mod shard;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sesame_core::SesameAutodiffBackend;

use crate::error::SesameError;
use config::{ExperimentKind, GridConfig};
use markdown::{render, Inputs};
use runs::Shard;

/// Where the report reads and writes.
#[derive(Debug, Clone)]
pub struct ReportPaths {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Root of the run directories (`<runs>/<experiment>/<TASK>/<variant>/seed<k>`).
    pub runs: PathBuf,
    /// The Markdown file; figures go to `figures/` beside it.
    pub output: PathBuf,
}

/// Trains one shard's share of the grid's runs and writes no report (the report needs every shard's runs:
/// `generate` with `execute = false` gathers them). Returns the runs that other processes were training.
pub fn train_shard<B: SesameAutodiffBackend>(
    paths: &ReportPaths,
    shard: Shard,
    device: &B::Device,
) -> Result<Vec<PathBuf>, SesameError> {
    let config = GridConfig::from_file(&paths.grid)?;
    schedule::execute::<B>(&config, &paths.grid, &paths.runs, shard, device)
}

/// Runs what is missing (when `execute`), then writes the report. Returns the Markdown.
pub fn generate<B: SesameAutodiffBackend>(
    paths: &ReportPaths,
    execute: bool,
    device: &B::Device,
) -> Result<String, SesameError> {
    let config = GridConfig::from_file(&paths.grid)?;
    if execute {
        let held = schedule::execute::<B>(&config, &paths.grid, &paths.runs, Shard::ALL, device)?;
        if let Some(first) = held.first() {
            return Err(SesameError::RunsInProgress {
                count: held.len(),
                first: first.clone(),
            });
        }
    }
    let plan = runs::plan(&config, &paths.grid, &paths.runs)?;
    let all_runs = &plan.runs;
    let collected = runs::collect(all_runs)?;
    let mut hans = BTreeMap::new();
    for e in config
        .experiments
        .iter()
        .filter(|e| e.kind == ExperimentKind::Hans)
    {
        let mut models = evaluations::hans_runs(e, &collected)?;
        if execute {
            if let Some(file) = &config.hans_file {
                let max_len = all_runs
                    .iter()
                    .find(|r| Some(&r.experiment) == e.from.as_ref())
                    .map_or(128, |r| r.job.recipe.max_seq_length);
                evaluations::execute_hans(&models, file, e.hans_every, max_len)?;
                models = evaluations::hans_runs(e, &collected)?;
            }
        }
        hans.insert(e.id.clone(), models);
    }
    for e in config
        .experiments
        .iter()
        .filter(|e| e.kind == ExperimentKind::Submission)
    {
        if execute {
            let models = evaluations::submission_models(e, &collected, &config);
            let max_len = all_runs
                .iter()
                .find(|r| Some(&r.experiment) == e.from.as_ref())
                .map_or(128, |r| r.job.recipe.max_seq_length);
            evaluations::execute_submission(
                &models,
                &config.data_dir,
                &paths.runs.join(&e.id),
                max_len,
            )?;
        }
    }
    let figures_dir = paths
        .output
        .parent()
        .unwrap_or(Path::new("."))
        .join("figures");
    std::fs::create_dir_all(&figures_dir).map_err(|e| SesameError::Output {
        path: figures_dir.clone(),
        message: e.to_string(),
    })?;
    let markdown = render(&Inputs {
        config: &config,
        paths,
        execute,
        collected: &collected,
        choices: &plan.choices,
        hans: &hans,
        figures_dir: &figures_dir,
    })?;
    sesame_train::fsio::write_atomic(&paths.output, markdown.as_bytes())?;
    Ok(markdown)
}
