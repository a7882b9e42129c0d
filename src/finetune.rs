//! The fine-tuning job behind `sesame finetune` and `examples/glue_rte.rs`: files → tokenizer → batches →
//! model → loss and metrics → run directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;
use sesame_core::{BertTokenizer, SequenceClassifier, SesameConfig};
use sesame_train::batching::TokenizedSet;
use sesame_train::learner::{train, TrainInputs, TrainObserver};
use sesame_train::run::RunDir;
use sesame_train::{Dataset, MalformedRows, Split, Task, TrainConfig};

use crate::error::SesameError;

/// Everything one fine-tuning run needs.
#[derive(Debug, Clone, Serialize)]
pub struct FinetuneJob {
    pub task: Task,
    /// Hugging Face model directory (config, weights, tokenizer).
    pub model_dir: PathBuf,
    /// GLUE folder with one sub-folder per task (`RTE/train.tsv`, …).
    pub data_dir: PathBuf,
    pub output_dir: PathBuf,
    pub recipe: TrainConfig,
    pub model: SesameConfig,
    pub resume: bool,
    /// Skip (and count) malformed rows instead of stopping.
    pub skip_malformed: bool,
    /// Backend name, recorded in the run's config.
    pub backend: String,
}

/// What a run achieved.
#[derive(Debug, Clone, Serialize)]
pub struct FinetuneReport {
    pub task: Task,
    pub run_dir: PathBuf,
    pub best_epoch: Option<usize>,
    pub best_metrics: BTreeMap<String, f64>,
    /// Dev metrics of the model after the last epoch: what `run_glue.py` reports (it evaluates the final
    /// model), and so the number to compare with `transformers`.
    #[serde(default)]
    pub final_metrics: BTreeMap<String, f64>,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub skipped_rows: usize,
    pub wall_seconds: f64,
}

/// Reads and tokenises one split of a task.
pub fn load_split(
    task: Task,
    data_dir: &Path,
    split: Split,
    tokenizer: &BertTokenizer,
    policy: MalformedRows,
) -> Result<(Dataset, TokenizedSet), SesameError> {
    let data = task.load(data_dir, split, policy)?;
    let set = TokenizedSet::new(&data, tokenizer)?;
    Ok((data, set))
}

/// Fine-tunes `job.model_dir` on `job.task` and writes the run to `job.output_dir`.
pub fn finetune<B: AutodiffBackend>(
    job: &FinetuneJob,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<FinetuneReport, SesameError> {
    let start = Instant::now();
    let policy = if job.skip_malformed {
        MalformedRows::Skip
    } else {
        MalformedRows::Error
    };
    let tokenizer = BertTokenizer::from_dir(&job.model_dir, job.recipe.max_seq_length)?;
    let (train_data, train_set) =
        load_split(job.task, &job.data_dir, Split::Train, &tokenizer, policy)?;
    let (dev_data, dev_set) = load_split(job.task, &job.data_dir, Split::Dev, &tokenizer, policy)?;
    let skipped = train_data.skipped.len() + dev_data.skipped.len();
    for (data, name) in [(&train_data, "train"), (&dev_data, "dev")] {
        if !data.skipped.is_empty() {
            observer.on_message(&format!(
                "skipped {} malformed {name} row(s) of {}, first at line {}: {}",
                data.skipped.len(),
                data.path.display(),
                data.skipped[0].0,
                data.skipped[0].1
            ));
        }
    }

    let run = RunDir::create(&job.output_dir)?;
    run.write_json("config.json", job)?;
    // The fresh head is drawn from the seeded backend RNG, so a seed fixes the whole run.
    B::seed(device, job.recipe.seed);
    let (model, _) = SequenceClassifier::<B>::from_pretrained(&job.model_dir, &job.model, device)?;
    let inputs = TrainInputs {
        train: &train_set,
        dev: &dev_set,
        pad_id: tokenizer.pad_id(),
        tokenizer_dir: &job.model_dir,
    };
    let outcome = train(
        model,
        &inputs,
        &job.recipe,
        &run,
        job.resume,
        device,
        observer,
    )?;
    let report = FinetuneReport {
        task: job.task,
        run_dir: run.path.clone(),
        best_epoch: outcome.state.best_epoch,
        best_metrics: outcome.state.best_metrics.clone(),
        final_metrics: outcome.state.history.last().cloned().unwrap_or_default(),
        train_examples: train_set.len(),
        dev_examples: dev_set.len(),
        skipped_rows: skipped,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    run.write_json("report.json", &report)?;
    Ok(report)
}
