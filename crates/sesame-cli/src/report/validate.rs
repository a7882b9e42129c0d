//! The checks of a grid file that span experiments: ids, tasks and labels, the grid a HANS or submission
//! experiment reads, the selection a choosing variant names, and the baseline of the paired comparisons.

use super::config::{ChoiceSpec, Experiment, ExperimentKind, GridConfig, VariantSpec};
use sesame_core::Preset;
use sesame_train::Task;

impl GridConfig {
    /// The grid experiment named by `from` of a HANS or submission experiment.
    fn source_grid<'a>(&'a self, e: &'a Experiment) -> Result<(&'a str, &'a Experiment), String> {
        let from = e
            .from
            .as_deref()
            .ok_or_else(|| format!("experiment `{}` needs `from = \"<grid id>\"`", e.id))?;
        let source = self
            .experiments
            .iter()
            .find(|x| x.id == from && x.kind == ExperimentKind::Grid)
            .ok_or_else(|| format!("experiment `{}`: no grid experiment `{from}`", e.id))?;
        Ok((from, source))
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.seeds.is_empty() {
            return Err("`seeds` is empty".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for e in &self.experiments {
            if !ids.insert(e.id.as_str()) {
                return Err(format!("experiment id `{}` appears twice", e.id));
            }
            if e.id.is_empty() || !e.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!(
                    "experiment id `{}`: use letters, digits and `-`",
                    e.id
                ));
            }
            if e.variants.is_empty() {
                return Err(format!("experiment `{}` has no variants", e.id));
            }
            self.validate_kind(e)?;
        }
        Ok(())
    }

    /// What each kind of experiment needs: a grid its tasks and distinct variant labels, a submission one
    /// variant of its grid, a HANS evaluation an RTE grid with its variants and the HANS file.
    fn validate_kind(&self, e: &Experiment) -> Result<(), String> {
        match e.kind {
            ExperimentKind::Grid => {
                if e.tasks.is_empty() {
                    return Err(format!("experiment `{}` has no tasks", e.id));
                }
                for t in &e.tasks {
                    Task::parse(t)
                        .ok_or_else(|| format!("experiment `{}`: unknown task `{t}`", e.id))?;
                }
                let mut labels = std::collections::BTreeSet::new();
                for v in &e.variants {
                    if !labels.insert(v.label.as_str()) {
                        return Err(format!(
                            "experiment `{}`: variant label `{}` appears twice",
                            e.id, v.label
                        ));
                    }
                    if let Some(choice) = &v.choose {
                        self.validate_choice(e, v, choice)?;
                    }
                }
                self.validate_baseline(e)?;
            }
            ExperimentKind::Submission => {
                let (from, source) = self.source_grid(e)?;
                if e.variants.len() != 1
                    || !source
                        .variants
                        .iter()
                        .any(|s| s.label == e.variants[0].label)
                {
                    return Err(format!(
                        "experiment `{}`: name exactly one variant of `{from}`",
                        e.id
                    ));
                }
            }
            ExperimentKind::Hans => {
                let (from, source) = self.source_grid(e)?;
                if !source
                    .tasks
                    .iter()
                    .any(|t| Task::parse(t) == Some(Task::Rte))
                {
                    return Err(format!(
                        "experiment `{}`: `{from}` has no RTE runs to evaluate on HANS",
                        e.id
                    ));
                }
                for v in &e.variants {
                    if !source.variants.iter().any(|s| s.label == v.label) {
                        return Err(format!(
                            "experiment `{}`: `{from}` has no variant `{}`",
                            e.id, v.label
                        ));
                    }
                }
                if self.hans_file.is_none() {
                    return Err(format!(
                        "experiment `{}` needs `hans_file` at the top level",
                        e.id
                    ));
                }
                if e.hans_every == 0 {
                    return Err(format!("experiment `{}`: hans_every must be ≥ 1", e.id));
                }
            }
        }
        Ok(())
    }
}

impl GridConfig {
    /// The grid experiment with this id.
    pub fn grid_experiment(&self, id: &str) -> Option<&Experiment> {
        self.experiments
            .iter()
            .find(|x| x.id == id && x.kind == ExperimentKind::Grid)
    }

    /// A choice names an earlier grid experiment without choices of its own, and variants it has; the choosing
    /// variant sets nothing itself.
    fn validate_choice(
        &self,
        e: &Experiment,
        v: &VariantSpec,
        choice: &ChoiceSpec,
    ) -> Result<(), String> {
        let here = format!("experiment `{}`, variant `{}`", e.id, v.label);
        let source = self
            .grid_experiment(&choice.experiment)
            .filter(|x| x.id != e.id)
            .ok_or_else(|| format!("{here}: no other grid experiment `{}`", choice.experiment))?;
        if source.variants.iter().any(|x| x.choose.is_some()) {
            return Err(format!(
                "{here}: `{}` chooses settings itself; a choice cannot rest on another",
                source.id
            ));
        }
        if let Some(missing) = choice
            .variants
            .iter()
            .find(|name| !source.variants.iter().any(|x| &x.label == *name))
        {
            return Err(format!(
                "{here}: `{}` has no variant `{missing}`",
                source.id
            ));
        }
        if !v.model.is_empty() || v.preset != Preset::default() {
            return Err(format!(
                "{here}: a variant with `choose` takes its settings from `{}`; remove `preset` and `model`",
                source.id
            ));
        }
        Ok(())
    }

    /// The baseline of the paired comparisons is a variant of this experiment or of `baseline_from`.
    fn validate_baseline(&self, e: &Experiment) -> Result<(), String> {
        let Some(label) = &e.baseline else {
            return match &e.baseline_from {
                Some(_) => Err(format!(
                    "experiment `{}`: `baseline_from` needs `baseline`",
                    e.id
                )),
                None => Ok(()),
            };
        };
        let source = match &e.baseline_from {
            Some(id) => self.grid_experiment(id).ok_or_else(|| {
                format!(
                    "experiment `{}`: no grid experiment `{id}` (baseline_from)",
                    e.id
                )
            })?,
            None => e,
        };
        if !source.variants.iter().any(|x| &x.label == label) {
            return Err(format!(
                "experiment `{}`: `{}` has no variant `{label}` to compare with",
                e.id, source.id
            ));
        }
        Ok(())
    }
}
