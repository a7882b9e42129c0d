//! A fine-tuned model directory run over one split of a task: shared by `sesame evaluate`, `sesame predict` and
//! the GLUE submission of `sesame report`.

use std::path::Path;

use crate::error::SesameError;
use sesame::backend::{self, Backend};
use sesame::{BertTokenizer, SequenceClassifier};
use sesame_train::batching::TokenizedSet;
use sesame_train::export::{load_fine_tuned, SesameMeta};
use sesame_train::job::load_split;
use sesame_train::predict::{predict, ModelOutputs};
use sesame_train::{MalformedRows, Split, Task};

/// The task that was run, its tokenised examples, and the model's outputs on them.
pub struct SplitRun {
    pub task: Task,
    pub set: TokenizedSet,
    pub outputs: ModelOutputs,
}

/// An exported (fine-tuned) model directory, loaded with its tokenizer at a maximum length.
pub struct ExportedModel {
    pub model: SequenceClassifier<Backend>,
    pub meta: SesameMeta,
    pub tokenizer: BertTokenizer,
    device: backend::Device,
}

impl ExportedModel {
    /// A sesame export, or a `*ForSequenceClassification` directory fine-tuned elsewhere (its task from `task`
    /// or its `config.json`).
    pub fn load(
        model_dir: &Path,
        task: Option<Task>,
        max_len: usize,
    ) -> Result<ExportedModel, SesameError> {
        let device = crate::device()?;
        let (model, meta) = load_fine_tuned::<Backend>(model_dir, task, &device)?;
        let tokenizer = BertTokenizer::from_dir(model_dir, max_len)?;
        Ok(ExportedModel {
            model,
            meta,
            tokenizer,
            device,
        })
    }

    /// The model's outputs on every example of `set`, in order, with a progress bar. Batches are shaped as the
    /// backend prefers (a shape plan on the GPU backends, `ShapeArgs`).
    pub fn outputs(
        &self,
        set: &TokenizedSet,
        batch_size: usize,
    ) -> Result<ModelOutputs, SesameError> {
        let bar = crate::progress::bar(set.len() as u64, "rows");
        let shapes = crate::options::ShapeArgs {
            length_buckets: backend::LENGTH_BUCKETS,
            pad_to_multiple_of: 1,
        };
        let lengths: Vec<usize> = set.encodings.iter().map(|e| e.len()).collect();
        let padding = shapes.padding(
            &lengths,
            batch_size,
            self.tokenizer.max_len(),
            &self.model.encoder_config(),
            self.model.config().num_labels,
        );
        let outputs = predict(
            &self.model,
            set,
            batch_size,
            self.tokenizer.pad_id(),
            &padding,
            &self.device,
        )?;
        bar.finish_and_clear();
        Ok(outputs)
    }
}

/// Loads the exported model in `model_dir` and runs it over `split` of `task` (default: the model's own task).
pub fn run_on_split(
    model_dir: &Path,
    task: Option<Task>,
    data_dir: &Path,
    split: Split,
    max_len: usize,
    batch_size: usize,
) -> Result<SplitRun, SesameError> {
    let exported = ExportedModel::load(model_dir, task, max_len)?;
    let task = task.unwrap_or(exported.meta.task);
    let (_, set) = load_split(
        task,
        data_dir,
        split,
        &exported.tokenizer,
        MalformedRows::Error,
    )?;
    let outputs = exported.outputs(&set, batch_size)?;
    Ok(SplitRun { task, set, outputs })
}

/// GLUE submission rows: `index<TAB>prediction` with the task's label strings (STS-B: `%.3f` in [0, 5]).
pub fn submission_rows(task: Task, outputs: &ModelOutputs) -> String {
    let mut out = String::from("index\tprediction\n");
    if task.is_regression() {
        for (i, v) in outputs.values().iter().enumerate() {
            out.push_str(&format!("{i}\t{:.3}\n", v.clamp(0.0, 5.0)));
        }
    } else {
        for (i, c) in outputs.classes().into_iter().enumerate() {
            out.push_str(&format!(
                "{i}\t{}\n",
                task.labels().get(c).copied().unwrap_or("0")
            ));
        }
    }
    out
}
