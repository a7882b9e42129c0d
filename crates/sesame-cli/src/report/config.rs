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
    /// Seeds of this experiment when they differ from the grid's (a selection on dev with fewer seeds).
    #[serde(default)]
    pub seeds: Option<Vec<u64>>,
    /// The variant every other variant is compared with, seed by seed (paired differences with 95 % intervals
    /// and a verdict); a label of this experiment or, with `baseline_from`, of another.
    #[serde(default)]
    pub baseline: Option<String>,
    /// The grid experiment that holds `baseline` when it is not this one.
    #[serde(default)]
    pub baseline_from: Option<String>,
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
    /// Settings chosen on dev in another experiment, instead of `preset` and `model`.
    #[serde(default)]
    pub choose: Option<ChoiceSpec>,
}

/// A variant whose settings are chosen on dev: among the listed variants of `experiment` (all when the list is
/// empty) at every σ it tried, the cell with the best dev score (the mean over seeds, then over that experiment's
/// tasks with equal weight). Its runs are declared once every candidate has all its seeds; a run the selection
/// already made (same task, seed and settings) is reused, not repeated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoiceSpec {
    pub experiment: String,
    #[serde(default)]
    pub variants: Vec<String>,
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
