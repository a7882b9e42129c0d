//! A fine-tuned model directory run over one split of a task: shared by `sesame evaluate`, `sesame predict` and
//! the GLUE submission of `sesame report`.

use std::path::Path;

use crate::backend::{self, Backend};
use crate::error::SesameError;
use crate::finetune::load_split;
use crate::train::batching::TokenizedSet;
use crate::train::export::{load_exported, SesameMeta};
use crate::train::learner::{predict, ModelOutputs};
use crate::train::{MalformedRows, Split, Task};
use crate::{BertTokenizer, SequenceClassifierOf};

/// The task that was run, its tokenised examples, and the model's outputs on them.
pub struct SplitRun {
    pub task: Task,
    pub set: TokenizedSet,
    pub outputs: ModelOutputs,
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
    let device = backend::device();
    let (model, meta): (SequenceClassifierOf<Backend>, SesameMeta) =
        load_exported::<Backend>(model_dir, &device)?;
    let tokenizer = BertTokenizer::from_dir(model_dir, max_len)?;
    let task = task.unwrap_or(meta.task);
    let (_, set) = load_split(task, data_dir, split, &tokenizer, MalformedRows::Error)?;
    let bar = crate::progress::bar(set.len() as u64, "rows");
    let outputs = predict(&model, &set, batch_size, tokenizer.pad_id(), 1, &device)?;
    bar.finish_and_clear();
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
