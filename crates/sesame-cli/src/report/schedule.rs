//! Training a grid's runs: this process's share first, then any run no process holds, so that a shard that died
//! or never started leaves nothing undone. Each run is claimed by its directory's lock for as long as it trains
//! (`finetune` takes it and checks for a finished run under it), so no run is trained twice, whatever number of
//! processes share the run directory. The grid is expanded again after every run: a variant that chooses its
//! settings on dev gets its runs when its selection finishes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sesame_core::SesameAutodiffBackend;

use super::config::GridConfig;
use super::runs::{check_same_job, plan, sigma_label, Run, Shard};
use crate::error::SesameError;
use crate::progress::TrainProgress;
use sesame_train::job::{finetune, Start};
use sesame_train::run::{CONFIG, REPORT};
use sesame_train::TrainError;

/// How long a process waits before it looks again at runs that others train, when a choice waits for them.
const POLL: Duration = Duration::from_secs(10);

/// Trains every unfinished run it can; returns the runs other processes were still training when nothing was
/// left for this one.
pub fn execute<B: SesameAutodiffBackend>(
    config: &GridConfig,
    grid_path: &Path,
    runs_dir: &Path,
    shard: Shard,
    device: &B::Device,
) -> Result<Vec<PathBuf>, SesameError> {
    let mut held: BTreeSet<PathBuf> = BTreeSet::new();
    let mut checked: BTreeSet<PathBuf> = BTreeSet::new();
    let mut announced = false;
    loop {
        let plan = plan(config, grid_path, runs_dir)?;
        for run in &plan.runs {
            // A finished or interrupted run must belong to this cell before it is reused or resumed.
            if !checked.contains(&run.dir) && run.dir.join(CONFIG).exists() {
                check_same_job(run)?;
                checked.insert(run.dir.clone());
            }
        }
        let open: Vec<(usize, &Run)> = plan
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.dir.join(REPORT).exists() && !held.contains(&r.dir))
            .collect();
        if !announced {
            announce(&plan.runs, shard, &open, &plan.waiting);
            announced = true;
        }
        // This shard's own runs first, in grid order; then anyone's.
        let next = open
            .iter()
            .find(|(k, _)| shard.owns(*k))
            .or_else(|| open.first());
        let Some(&(_, run)) = next else {
            if plan.waiting.is_empty() || held.is_empty() {
                return Ok(held.into_iter().collect());
            }
            // A choice waits for runs that other processes train: look again later.
            std::thread::sleep(POLL);
            held.clear();
            continue;
        };
        let name = format!(
            "[{} done, {} to go] {} {} {} σ={} seed={}",
            plan.runs.len() - open.len() - held.len(),
            open.len() + plan.waiting.len(),
            run.experiment,
            run.task.name(),
            run.variant,
            sigma_label(run.sigma),
            run.seed
        );
        let mut progress = TrainProgress::new(name);
        // An interrupted run continues from its checkpoint; one killed before its first starts over; one that
        // another process finished meanwhile is returned as it is (the lock is taken before that check).
        match finetune::<B>(&run.job, Start::ResumeIfPossible, device, &mut progress) {
            Ok(report) if progress.started() => {
                // One line per run this process trained to the end (logs of several shards add up to the grid).
                eprintln!(
                    "[report] finished {} in {:.1} s",
                    run.dir.display(),
                    report.wall_seconds
                );
            }
            // Finished by another process between the plan and the lock.
            Ok(_) => {}
            Err(TrainError::RunLocked { dir, holder }) => {
                eprintln!(
                    "[report] {} is being trained by {holder}; left to it",
                    dir.display()
                );
                held.insert(dir);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn announce(runs: &[Run], shard: Shard, open: &[(usize, &Run)], waiting: &[String]) {
    let share = if shard == Shard::ALL {
        String::new()
    } else {
        let mine = open.iter().filter(|(k, _)| shard.owns(*k)).count();
        format!(
            "; shard {}/{} owns {mine} of them and then helps with the rest",
            shard.index, shard.count
        )
    };
    let waits = if waiting.is_empty() {
        String::new()
    } else {
        format!(
            "; {} variants wait for their selection on dev ({})",
            waiting.len(),
            waiting.join(", ")
        )
    };
    eprintln!(
        "[report] {} runs declared, {} to do{share}{waits}",
        runs.len(),
        open.len()
    );
}
