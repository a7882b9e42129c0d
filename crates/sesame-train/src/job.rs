//! The fine-tuning job behind `sesame finetune` and `examples/glue_rte.rs`: files → tokenizer → batches →
//! model → loss and metrics → run directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use sesame_core::bert::dropout::MaskSource;
use sesame_core::{BertTokenizer, SequenceClassifier, SesameConfig};

use crate::batching::TokenizedSet;
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::observer::TrainObserver;
use crate::run::{RunDir, RunReport, CONFIG, REPORT};
use crate::tasks::{Dataset, MalformedRows, Split, Task};
use crate::trainer::{train, TrainInputs};

/// Everything one fine-tuning run needs; written to the run directory as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Where dropout masks are drawn (a fact of the backend, see the facade's `backend` module).
    #[serde(default)]
    pub dropout_masks: MaskSource,
}

impl FinetuneJob {
    /// The run's recorded job, if the directory has one.
    pub fn read(run: &RunDir) -> Result<Option<FinetuneJob>, TrainError> {
        if !run.file(CONFIG).exists() {
            return Ok(None);
        }
        run.read_json(CONFIG).map(Some)
    }

    /// Whether `other` trains the same thing (task, recipe and model variant; paths and flags aside).
    pub fn same_training(&self, other: &FinetuneJob) -> bool {
        self.task == other.task && self.recipe == other.recipe && self.model == other.model
    }
}

/// Reads and tokenises one split of a task.
pub fn load_split(
    task: Task,
    data_dir: &Path,
    split: Split,
    tokenizer: &BertTokenizer,
    policy: MalformedRows,
) -> Result<(Dataset, TokenizedSet), TrainError> {
    let data = task.load(data_dir, split, policy)?;
    let set = TokenizedSet::new(&data, tokenizer)?;
    Ok((data, set))
}

/// Fine-tunes `job.model_dir` on `job.task` and writes the run to `job.output_dir`.
pub fn finetune<B: AutodiffBackend>(
    job: &FinetuneJob,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<RunReport, TrainError> {
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
    run.write_json(CONFIG, job)?;
    // The fresh head is drawn from the seeded backend RNG, so a seed fixes the whole run.
    B::seed(device, job.recipe.seed);
    let (model, _) = SequenceClassifier::<B>::from_pretrained(&job.model_dir, &job.model, device)?;
    model.dropout_stream().set_masks(job.dropout_masks);
    let inputs = TrainInputs {
        task: job.task,
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
    let report = RunReport {
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
    run.write_json(REPORT, &report)?;
    Ok(report)
}
