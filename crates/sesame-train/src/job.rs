//! The fine-tuning job behind `sesame finetune` and `crates/sesame-cli/examples/glue_rte.rs`: files → tokenizer → batches →
//! model → loss and metrics → run directory.

use sesame_core::SesameAutodiffBackend;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sesame_core::bert::dropout::MaskSource;
use sesame_core::{BertTokenizer, MissingWeights, SequenceClassifier, SesameConfig};

use crate::batching::TokenizedSet;
use crate::checkpoint::SavePolicy;
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::inputs::TrainInputs;
use crate::observer::TrainObserver;
use crate::run::{RunDir, RunReport, StartupCost, CONFIG, REPORT};
use crate::tasks::{Dataset, MalformedRows, Split, Task};
use crate::trainer::{train, RunControl};

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
    /// When checkpoints are written and how many are kept.
    #[serde(default)]
    pub checkpoints: SavePolicy,
    /// Skip (and count) malformed rows instead of stopping.
    pub skip_malformed: bool,
    /// Whether pretrained parameters missing from the checkpoint stop the run (the default) or start random.
    #[serde(default)]
    pub missing_weights: MissingWeights,
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
        self.differences(other).is_empty()
    }

    /// What `other` trains differently, one `field: recorded → given` entry per differing setting.
    pub fn differences(&self, other: &FinetuneJob) -> Vec<String> {
        let as_json = |job: &FinetuneJob| serde_json::json!({"task": job.task, "recipe": job.recipe, "model": job.model});
        let mut out = Vec::new();
        diff_json("", &as_json(self), &as_json(other), &mut out);
        out
    }
}

/// Collects the leaves where `a` and `b` differ, as `path: a → b`.
fn diff_json(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let none = Value::Null;
                diff_json(
                    &sub,
                    x.get(key).unwrap_or(&none),
                    y.get(key).unwrap_or(&none),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{path}: {a} → {b}")),
        _ => {}
    }
}

/// How `finetune` treats an output directory that may already hold a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Start {
    /// Start a new run; an output directory that holds a run is refused.
    #[default]
    New,
    /// Continue the run in the output directory from its latest checkpoint; refused when there is none or the
    /// recorded run trains something else. A finished run of the same job is returned as it is.
    Resume,
    /// As `Resume` when there is a checkpoint, else start over (for scripts that rerun the same command).
    ResumeIfPossible,
    /// Remove the run in the output directory and start a new one.
    Overwrite,
}

/// What to do with the output directory, decided before anything is read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunDirAction {
    /// Nothing of a run is there.
    Use,
    /// Remove the run files first.
    Clear,
    /// Continue from the latest checkpoint.
    Resume,
    /// The same run has finished: nothing to do.
    Finished,
}

/// Checks the output directory against `start` and `job` (reads only).
fn check_run_dir(
    run: &RunDir,
    job: &FinetuneJob,
    start: Start,
) -> Result<RunDirAction, TrainError> {
    if start == Start::Overwrite {
        return Ok(RunDirAction::Clear);
    }
    let finished = run.file(REPORT).exists();
    if start == Start::New {
        if !run.holds_run() {
            return Ok(RunDirAction::Use);
        }
        return Err(TrainError::OutputInUse {
            dir: run.path.clone(),
            what: if finished {
                "a finished run".into()
            } else {
                "an unfinished run".into()
            },
            hint: if finished {
                ""
            } else {
                ", or --resume to continue it"
            },
        });
    }
    if let Some(recorded) = FinetuneJob::read(run)? {
        let differences = recorded.differences(job);
        if !differences.is_empty() {
            return Err(TrainError::OtherRun {
                dir: run.path.clone(),
                differences,
            });
        }
    }
    if finished {
        return Ok(RunDirAction::Finished);
    }
    match (run.latest_checkpoint()?, start) {
        (Some(_), _) => Ok(RunDirAction::Resume),
        (None, Start::Resume) => Err(TrainError::NoCheckpoint {
            dir: run.path.clone(),
        }),
        // Nothing worth keeping: what a run wrote before its first checkpoint is written again.
        (None, _) => Ok(RunDirAction::Clear),
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

/// Fine-tunes `job.model_dir` on `job.task` and writes the run to `job.output_dir`; `start` says what to do
/// with a run already there.
pub fn finetune<B: SesameAutodiffBackend>(
    job: &FinetuneJob,
    start: Start,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<RunReport, TrainError> {
    let clock = Instant::now();
    let policy = if job.skip_malformed {
        MalformedRows::Skip
    } else {
        MalformedRows::Error
    };
    job.recipe.validate()?;
    job.checkpoints.validate()?;
    let run = RunDir {
        path: job.output_dir.clone(),
    };
    let action = check_run_dir(&run, job, start)?;
    if action == RunDirAction::Finished {
        if let Some(report) = run.report()? {
            observer.on_message(&format!(
                "{} already finished this run; nothing to do (--overwrite-output-dir trains it again)",
                run.path.display()
            ));
            return Ok(report);
        }
    }
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

    if train_set.is_empty() {
        return Err(TrainError::EmptyTrainingSet {
            source_name: train_data.path.display().to_string(),
        });
    }
    // The fresh head is drawn from the seeded backend RNG, so a seed fixes the whole run.
    B::seed(device, job.recipe.seed);
    let (model, report) = SequenceClassifier::<B>::from_pretrained(
        &job.model_dir,
        &job.model,
        job.missing_weights,
        device,
    )?;
    if !report.missing.is_empty() {
        observer.on_message(&format!(
            "warning: {} pretrained parameter(s) missing from the checkpoint start from random values: {}",
            report.missing.len(),
            report.missing.join(", ")
        ));
    }
    if action == RunDirAction::Clear {
        run.clear()?;
    }
    let run = RunDir::create(&job.output_dir)?;
    run.write_json(CONFIG, job)?;
    model.dropout_stream().set_masks(job.dropout_masks);
    let inputs = TrainInputs {
        task: job.task,
        train: &train_set,
        dev: &dev_set,
        pad_id: tokenizer.pad_id(),
        tokenizer_dir: &job.model_dir,
    };
    let control = RunControl {
        resume: action == RunDirAction::Resume,
        save: job.checkpoints.clone(),
    };
    let before_training = clock.elapsed().as_secs_f64();
    let outcome = train(
        model,
        &inputs,
        &job.recipe,
        &run,
        &control,
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
        wall_seconds: clock.elapsed().as_secs_f64(),
        startup: StartupCost {
            seconds_to_first_update: outcome
                .startup
                .seconds_to_first_update
                .map(|s| s + before_training),
            ..outcome.startup
        },
    };
    run.write_json(REPORT, &report)?;
    Ok(report)
}
