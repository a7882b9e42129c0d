//! What a training run reads besides the model: the task, its training and dev sets, and where the tokenizer
//! files come from.

use std::path::Path;

use crate::batching::TokenizedSet;
use crate::tasks::Task;

/// Everything [`crate::trainer::train`] needs besides the model.
pub struct TrainInputs<'a> {
    /// The task the sets belong to (its metrics select the best model).
    pub task: Task,
    pub train: &'a TokenizedSet,
    pub dev: &'a TokenizedSet,
    pub pad_id: u32,
    /// Where the tokenizer files come from (copied into exported models).
    pub tokenizer_dir: &'a Path,
}
