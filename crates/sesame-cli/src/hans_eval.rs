//! HANS evaluation of a fine-tuned entailment model, shared by `sesame hans` and `sesame report`.

use std::path::Path;

use crate::error::SesameError;
use crate::predict::ExportedModel;
use sesame_train::batching::TokenizedSet;
use sesame_train::hans::{prediction_file, to_hans_class, HansReport};
use sesame_train::{Example, MalformedRows, Split, Task};

/// The examples evaluated, the HANS class predicted for each, and the breakdown.
pub struct HansOutcome {
    pub examples: Vec<Example>,
    pub predicted: Vec<usize>,
    pub report: HansReport,
}

impl HansOutcome {
    /// Writes `hans_predictions.txt` (the official format), `hans_report.md` and `hans_report.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), SesameError> {
        std::fs::create_dir_all(dir).map_err(|e| SesameError::Output {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let write = |name: &str, text: String| {
            sesame_train::fsio::write_atomic(&dir.join(name), text.as_bytes())
        };
        write(
            "hans_predictions.txt",
            prediction_file(&self.examples, &self.predicted),
        )?;
        write("hans_report.md", self.report.to_markdown())?;
        write(
            "hans_report.json",
            serde_json::to_string_pretty(&self.report)?,
        )?;
        Ok(())
    }
}

/// Runs the exported model in `model_dir` over every `every`-th example of `hans_file` (1 = all of them) and
/// maps its classes to HANS's two (an RTE/QNLI model directly, an MNLI model by collapsing neutral and
/// contradiction).
pub fn evaluate_hans(
    model_dir: &Path,
    hans_file: &Path,
    max_seq_length: usize,
    batch_size: usize,
    every: usize,
) -> Result<HansOutcome, SesameError> {
    let exported = ExportedModel::load(model_dir, None, max_seq_length)?;
    let meta = &exported.meta;
    let mut data = Task::Hans.load_file(hans_file, Split::Test, MalformedRows::Error)?;
    data.examples = data.examples.into_iter().step_by(every.max(1)).collect();
    let set = TokenizedSet::new(&data, &exported.tokenizer)?;
    let outputs = exported.outputs(&set, batch_size)?;
    let predicted: Vec<usize> = outputs
        .classes()
        .into_iter()
        .map(|c| {
            to_hans_class(meta.task, c).ok_or_else(|| SesameError::Input {
                path: model_dir.to_path_buf(),
                message: format!("a {} model does not predict entailment", meta.task.name()),
            })
        })
        .collect::<Result<_, _>>()?;
    let report = HansReport::new(&data.examples, &predicted);
    Ok(HansOutcome {
        examples: data.examples,
        predicted,
        report,
    })
}
