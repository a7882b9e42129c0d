//! Settings chosen on dev: a grid variant with `choose` takes the settings (variant and σ) of the best cell of a
//! selection experiment, as the paper chose σ. The choice is made from finished runs only, and only once every
//! candidate has all its seeds, so that it cannot change when a late seed arrives.

use super::config::{ChoiceSpec, GridConfig, VariantSpec};
use super::runs::{mean_std, sigma_label, Collected, Run};
use sesame_train::Task;

/// One candidate of a selection: a variant at a σ, its mean dev score per task, and their mean.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub variant: String,
    pub sigma: Option<f64>,
    pub per_task: Vec<(Task, f64)>,
    pub score: f64,
}

/// A choice made: which variant of which experiment chose, and what it chose among what.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The choosing experiment and variant label (set by the caller).
    pub experiment: String,
    pub label: String,
    /// The selection experiment.
    pub selection: String,
    /// The winning variant's settings and σ.
    pub variant: VariantSpec,
    pub sigma: Option<f64>,
    /// Every candidate, in the order the selection declares them; the winner is `candidates[winner]`.
    pub candidates: Vec<Candidate>,
    pub winner: usize,
}

/// The best candidate of `spec`'s selection (the first on a tie), or `None` while a candidate lacks a seed.
pub fn decide(
    config: &GridConfig,
    spec: &ChoiceSpec,
    runs: &[Run],
    collected: &Collected,
) -> Option<Chosen> {
    let source = config.grid_experiment(&spec.experiment)?;
    let tasks: Vec<Task> = source.tasks.iter().filter_map(|t| Task::parse(t)).collect();
    let listed = |label: &String| spec.variants.is_empty() || spec.variants.contains(label);
    let mut candidates = Vec::new();
    for v in source.variants.iter().filter(|v| listed(&v.label)) {
        // The σ values this variant ran at, in declared order.
        let mut sigmas: Vec<Option<f64>> = Vec::new();
        for r in runs
            .iter()
            .filter(|r| r.experiment == source.id && r.variant == v.label)
        {
            if !sigmas.contains(&r.sigma) {
                sigmas.push(r.sigma);
            }
        }
        for sigma in sigmas {
            let mut per_task = Vec::new();
            for &t in &tasks {
                let key = (source.id.clone(), t, v.label.clone(), sigma_label(sigma));
                let cell = collected.get(&key)?;
                if !cell.missing.is_empty() || cell.scores.is_empty() {
                    return None;
                }
                per_task.push((t, mean_std(&cell.scores).0));
            }
            let score = per_task.iter().map(|(_, s)| s).sum::<f64>() / per_task.len().max(1) as f64;
            candidates.push(Candidate {
                variant: v.label.clone(),
                sigma,
                per_task,
                score,
            });
        }
    }
    let winner = candidates
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f64)>, (i, c)| match best {
            Some((_, b)) if b >= c.score => best,
            _ => Some((i, c.score)),
        })?
        .0;
    let variant = source
        .variants
        .iter()
        .find(|v| v.label == candidates[winner].variant)?
        .clone();
    Some(Chosen {
        experiment: String::new(),
        label: String::new(),
        selection: source.id.clone(),
        variant,
        sigma: candidates[winner].sigma,
        candidates,
        winner,
    })
}
