//! The experiment grid file of `sesame report` (TOML).
//!
//! A grid names the checkpoint and data, the seeds, the recipe shared by every run, and a list of experiments.
//! Recipes and variants are the typed configs a run records in its `config.json`, written as TOML tables: a
//! `recipe` table sets fields of `TrainConfig` over `TrainConfig::default()`, and a variant is a preset of
//! `SesameConfig` (`baseline`, `sesamebert`, `se`, `blur`, `ssaf`) with a `model` table of `SesameConfig` fields
//! over it. A field name that the config does not have is an error, so a typo cannot be ignored silently:
//!
//! ```toml
//! title = "SesameBERT on all-MiniLM-L6-v2"
//! model = "../shared/models/all-MiniLM-L6-v2"
//! data_dir = "../shared/data/glue"
//! seeds = [1, 2, 3, 4, 5]
//! recipe = { max_train_samples = 256, epochs = 1 }
//!
//! [[experiment]]
//! id = "blur-target"
//! title = "Where the blur goes"
//! tasks = ["RTE", "MRPC"]
//! sigmas = [0.1, 0.3]
//! variants = [
//!   { label = "baseline" },
//!   { label = "blur on values", preset = "blur", model = { attention = { blur = { target = "value" } } } },
//! ]
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sesame_core::Preset;

use crate::error::SesameError;
use sesame_train::Task;

/// The whole grid file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridConfig {
    /// First heading of the generated Markdown.
    pub title: String,
    /// Markdown placed under the title (setting, caveats).
    #[serde(default)]
    pub preamble: String,
    /// Markdown placed at the end (the conclusion drawn from the tables).
    #[serde(default)]
    pub conclusion: String,
    /// Hardware the runs were made on, as the author states it (the run directories record the backend).
    #[serde(default)]
    pub hardware: String,
    /// Hugging Face checkpoint directory; relative paths are relative to the grid file.
    pub model: PathBuf,
    /// GLUE folder (one sub-folder per task); relative to the grid file.
    pub data_dir: PathBuf,
    /// HANS file, for `kind = "hans"` experiments; relative to the grid file.
    #[serde(default)]
    pub hans_file: Option<PathBuf>,
    pub seeds: Vec<u64>,
    /// `TrainConfig` fields applied to every run (`epochs`, `max_train_samples`, …).
    #[serde(default)]
    pub recipe: toml::Table,
    #[serde(rename = "experiment")]
    pub experiments: Vec<Experiment>,
}

/// What an experiment produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExperimentKind {
    /// Fine-tuning runs: variants × tasks × σ × seeds, a table of dev scores.
    #[default]
    Grid,
    /// HANS evaluation of the RTE models of another experiment.
    Hans,
    /// GLUE test predictions of one variant of another experiment (the best dev seed per task), validated and
    /// zipped for the GLUE server; tasks without a model get placeholder files.
    Submission,
}

/// One table of the report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Short name: the run directory and figure names derive from it.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub kind: ExperimentKind,
    /// Markdown under the table.
    #[serde(default)]
    pub note: String,
    /// Task names (`RTE`, `MRPC`, …); grid experiments only.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// σ values tried for every variant that has a blur; the best mean on dev is reported (as the paper).
    #[serde(default)]
    pub sigmas: Vec<f64>,
    /// Grid: the variants. HANS: the labels of variants of `from` to evaluate.
    #[serde(default)]
    pub variants: Vec<VariantSpec>,
    /// HANS and submission: the grid experiment whose models are used.
    #[serde(default)]
    pub from: Option<String>,
    /// HANS: evaluate every k-th example of the file (1 = all 30 000), to bound CPU time.
    #[serde(default = "one")]
    pub hans_every: usize,
    /// `TrainConfig` fields for this experiment only (over the grid's `recipe`).
    #[serde(default)]
    pub recipe: toml::Table,
}

fn one() -> usize {
    1
}

/// A row of a grid table: a label, a preset of `SesameConfig`, and `SesameConfig` fields over the preset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub label: String,
    #[serde(default)]
    pub preset: Preset,
    #[serde(default)]
    pub model: toml::Table,
}

/// The tag field of sesame's serialised enums (`{ kind = "sparsegen_lin", lambda = -2.0 }`).
const ENUM_TAG: &str = "kind";

/// `base` with the fields of each table in `layers` written over it, in order: tables merge field by field,
/// any other value (and a table with a `kind`, which is a whole enum value) replaces what was there. A field
/// `base` does not have is an error naming its path.
pub fn overlay<T: Serialize + DeserializeOwned>(
    base: &T,
    layers: &[&toml::Table],
) -> Result<T, String> {
    fn merge(
        into: &mut serde_json::Value,
        from: serde_json::Value,
        path: &str,
    ) -> Result<(), String> {
        match (into, from) {
            // A table naming a `kind` is a whole enum value (the normaliser, an aggregation): it replaces.
            (serde_json::Value::Object(into), serde_json::Value::Object(from))
                if !from.contains_key(ENUM_TAG) =>
            {
                for (key, value) in from {
                    let here = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    match into.get_mut(&key) {
                        Some(slot) => merge(slot, value, &here)?,
                        None => return Err(format!("unknown field `{here}`")),
                    }
                }
                Ok(())
            }
            (slot, value) => {
                *slot = value;
                Ok(())
            }
        }
    }
    let mut value = serde_json::to_value(base).map_err(|e| e.to_string())?;
    for layer in layers {
        let layer = serde_json::to_value(layer).map_err(|e| e.to_string())?;
        merge(&mut value, layer, "")?;
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

impl GridConfig {
    /// Reads and checks a grid file; relative paths inside become relative to its directory.
    pub fn from_file(path: &Path) -> Result<GridConfig, SesameError> {
        let err = |message: String| SesameError::Input {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text, path)
    }

    /// Parses and checks the text of a grid file read from `path` (for messages and relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<GridConfig, SesameError> {
        let err = |message: String| SesameError::Input {
            path: path.to_path_buf(),
            message,
        };
        let mut config: GridConfig = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.model = base.join(&config.model);
        config.data_dir = base.join(&config.data_dir);
        config.hans_file = config.hans_file.map(|p| base.join(p));
        config.validate().map_err(err)?;
        Ok(config)
    }

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

    fn validate(&self) -> Result<(), String> {
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
                }
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

/// A directory-safe form of a label: lowercase ASCII letters and digits, other runs of characters as `-`.
pub fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}
