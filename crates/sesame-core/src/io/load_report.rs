//! What loading a checkpoint found ([`LoadReport`], in Hugging Face names) and what a load may lack
//! ([`MissingWeights`]); the error for missing tensors names the unused file tensors that look closest.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// What loading a checkpoint into a module found, in Hugging Face names (as `transformers` reports it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Pretrained parameters of the module that no file had (they keep their random initialisation).
    pub missing: Vec<String>,
    /// Fresh parameters (head, SE gate, localness, …) that no file had: initialised anew, as expected when
    /// starting from a pretrained encoder.
    pub fresh: Vec<String>,
    /// Tensors of the files the module has no place for (e.g. `cls.*` pre-training heads).
    pub unexpected: Vec<String>,
    /// The family's prefix (`"bert."`, `"roberta."`, …) when the files prefix the encoder
    /// (`*ForSequenceClassification` layout), else empty.
    pub stripped_prefix: String,
}

/// What to do when a checkpoint lacks pretrained parameters of the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingWeights {
    /// Stop with an error listing them (the default: a partial load is almost always the wrong checkpoint).
    #[default]
    Refuse,
    /// Keep their random initialisation, as `transformers` does with a warning.
    Allow,
}

impl LoadReport {
    /// Every parameter no file had, pretrained or fresh: what a sesame checkpoint or export must not lack.
    pub fn absent(&self) -> Vec<String> {
        self.missing.iter().chain(&self.fresh).cloned().collect()
    }

    /// Ok unless pretrained parameters are missing and `policy` refuses that; the error lists them with the
    /// unused tensors of the file that look closest.
    pub fn require_pretrained(&self, path: &Path, policy: MissingWeights) -> Result<()> {
        if self.missing.is_empty() || policy == MissingWeights::Allow {
            return Ok(());
        }
        Err(self.missing_error(path, self.missing.clone(), true))
    }

    /// Ok when the files held every parameter, pretrained and fresh (a sesame checkpoint or export).
    pub fn require_all(&self, path: &Path) -> Result<()> {
        let absent = self.absent();
        if absent.is_empty() {
            return Ok(());
        }
        Err(self.missing_error(path, absent, false))
    }

    fn missing_error(&self, path: &Path, keys: Vec<String>, allowable: bool) -> CoreError {
        CoreError::MissingTensors {
            path: path.to_path_buf(),
            closest: closest_names(&keys, &self.unexpected, 5),
            keys,
            allowable,
        }
    }
}

/// Up to `n` pairs `(wanted, unused)` of the most similar names (normalised Levenshtein), best first: for
/// each unused tensor the missing name it most resembles, where it resembles one at all. Enough to see a
/// renamed prefix or another architecture's layout at a glance.
fn closest_names(wanted: &[String], unused: &[String], n: usize) -> Vec<(String, String)> {
    let mut pairs: Vec<(f64, &String, &String)> = unused
        .iter()
        .filter_map(|u| {
            wanted
                .iter()
                .map(|w| (strsim::normalized_levenshtein(w, u), w, u))
                .filter(|(score, _, _)| *score > 0.5)
                .max_by(|a, b| a.0.total_cmp(&b.0))
        })
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut seen = BTreeSet::new();
    pairs
        .into_iter()
        .filter(|(_, w, _)| seen.insert(*w))
        .take(n)
        .map(|(_, w, u)| (w.clone(), u.clone()))
        .collect()
}
