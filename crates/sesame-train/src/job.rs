//! The fine-tuning job behind `sesame finetune` and `crates/sesame-cli/examples/glue_rte.rs`: files → tokenizer → batches →
//! model → loss and metrics → run directory.

use sesame_core::SesameAutodiffBackend;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sesame_core::memory;
use sesame_core::{BertTokenizer, MissingWeights, SequenceClassifier, SesameBackend, SesameConfig};

use crate::batching::TokenizedSet;
use crate::checkpoint::SavePolicy;
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::inputs::TrainInputs;
use crate::observer::TrainObserver;
use crate::run::{RunDir, RunLock, RunReport, CONFIG, REPORT};
use crate::tasks::{Dataset, MalformedRows, Split, Task};
use crate::trainer::{self, RunControl};

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
}

/// What a run directory's `config.json` holds: the job, and the backend that ran it (a fact of the backend type,
/// [`sesame_core::SesameBackend::NAME`], recorded for reports; reading the job back ignores it).
#[derive(Serialize)]
struct JobRecord<'a> {
    #[serde(flatten)]
    job: &'a FinetuneJob,
    backend: &'static str,
}

impl FinetuneJob {
    /// A job for `task` with BERT's recipe, its shape defaults those of backend `B`
    /// ([`TrainConfig::for_backend`]), the plain model with the task's labels, the default checkpoints, and
    /// malformed rows and missing pretrained weights refused. Change any field before running it.
    pub fn new<B: SesameBackend>(
        task: Task,
        model_dir: impl Into<PathBuf>,
        data_dir: impl Into<PathBuf>,
        output_dir: impl Into<PathBuf>,
    ) -> Self {
        FinetuneJob {
            task,
            model_dir: model_dir.into(),
            data_dir: data_dir.into(),
            output_dir: output_dir.into(),
            recipe: TrainConfig::for_backend::<B>(),
            model: SesameConfig::baseline(task.num_labels()),
            checkpoints: SavePolicy::default(),
            skip_malformed: false,
            missing_weights: MissingWeights::Refuse,
        }
    }

    /// The run's recorded job, if the directory has one.
    pub fn read(run: &RunDir) -> Result<Option<FinetuneJob>, TrainError> {
        if !run.file(CONFIG).exists() {
            return Ok(None);
        }
        run.read_json(CONFIG).map(Some)
    }

    /// The backend that ran the job of `run`, as its `config.json` records it (`None` where the record predates
    /// the field).
    pub fn recorded_backend(run: &RunDir) -> Result<Option<String>, TrainError> {
        #[derive(Deserialize)]
        struct Recorded {
            backend: Option<String>,
        }
        if !run.file(CONFIG).exists() {
            return Ok(None);
        }
        Ok(run.read_json::<Recorded>(CONFIG)?.backend)
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

/// A job's tokenizer and tokenised train and dev splits.
struct JobData {
    tokenizer: BertTokenizer,
    train: TokenizedSet,
    dev: TokenizedSet,
    /// Malformed rows skipped in both splits (`--skip-malformed`).
    skipped: usize,
}

impl JobData {
    /// Reads and tokenises the job's train and dev splits, telling the observer about skipped rows; an empty
    /// training set is an error.
    fn load(job: &FinetuneJob, observer: &mut dyn TrainObserver) -> Result<JobData, TrainError> {
        let policy = if job.skip_malformed {
            MalformedRows::Skip
        } else {
            MalformedRows::Error
        };
        let tokenizer = BertTokenizer::from_dir(&job.model_dir, job.recipe.max_seq_length)?;
        let (train_data, train) =
            load_split(job.task, &job.data_dir, Split::Train, &tokenizer, policy)?;
        let (dev_data, dev) = load_split(job.task, &job.data_dir, Split::Dev, &tokenizer, policy)?;
        for (data, name) in [(&train_data, "train"), (&dev_data, "dev")] {
            if let Some((line, message)) = data.skipped.first() {
                observer.on_message(&format!(
                    "skipped {} malformed {name} row(s) of {}, first at line {line}: {message}",
                    data.skipped.len(),
                    data.path.display(),
                ));
            }
        }
        if train.is_empty() {
            return Err(TrainError::EmptyTrainingSet {
                source_name: train_data.path.display().to_string(),
            });
        }
        Ok(JobData {
            tokenizer,
            train,
            dev,
            skipped: train_data.skipped.len() + dev_data.skipped.len(),
        })
    }
}

/// The job's model: the pretrained encoder with a fresh head and the variant's fresh parameters, drawn from
/// the backend's random stream seeded with the recipe's seed (so a seed fixes the whole run). Pretrained
/// parameters the checkpoint lacks, where the job allows it, are named in a warning.
fn load_model<B: SesameAutodiffBackend>(
    job: &FinetuneJob,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<SequenceClassifier<B>, TrainError> {
    B::seed(device, job.recipe.seed);
    let (model, report) = SequenceClassifier::<B>::from_pretrained(
        &job.model_dir,
        &job.model,
        job.missing_weights,
        device,
    )?;
    if B::ON_HOST {
        // The load has checked the config against the weights file and the weights against the limit; a training
        // step also holds gradients, Adam's moments and activations.
        let needed = model
            .encoder_config()
            .model_size(job.model.num_labels)
            .training_bytes(job.recipe.batch_size, job.recipe.max_seq_length);
        memory::require(
            needed,
            &format!(
                "fine-tuning {} with batches of {} × {} tokens",
                job.model_dir.display(),
                job.recipe.batch_size,
                job.recipe.max_seq_length
            ),
        )?;
    }
    if !report.missing.is_empty() {
        observer.on_message(&format!(
            "warning: {} pretrained parameter(s) missing from the checkpoint start from random values: {}",
            report.missing.len(),
            report.missing.join(", ")
        ));
    }
    Ok(model)
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
    trainer::validate(&job.recipe, &job.checkpoints)?;
    // Held until this function returns: no other process reads or writes the run meanwhile.
    let _lock = RunLock::acquire(&job.output_dir)?;
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
    let data = JobData::load(job, observer)?;
    let model = load_model::<B>(job, device, observer)?;
    if action == RunDirAction::Clear {
        run.clear()?;
    }
    let run = RunDir::create(&job.output_dir)?;
    run.write_json(
        CONFIG,
        &JobRecord {
            job,
            backend: B::NAME,
        },
    )?;
    let inputs = TrainInputs {
        task: job.task,
        train: &data.train,
        dev: &data.dev,
        pad_id: data.tokenizer.pad_id(),
        tokenizer_dir: &job.model_dir,
    };
    let control = RunControl {
        resume: action == RunDirAction::Resume,
        save: job.checkpoints.clone(),
    };
    // The startup cost counts from this call: reading the data and the model are part of it.
    let outcome = trainer::train_validated(
        model,
        &inputs,
        &job.recipe,
        &run,
        &control,
        device,
        observer,
        clock,
    )?;
    let report = RunReport {
        task: job.task,
        run_dir: run.path.clone(),
        best_epoch: outcome.state.best_epoch,
        best_metrics: outcome.state.best_metrics.clone(),
        final_metrics: outcome.state.history.last().cloned().unwrap_or_default(),
        train_examples: data.train.len(),
        dev_examples: data.dev.len(),
        skipped_rows: data.skipped,
        wall_seconds: clock.elapsed().as_secs_f64(),
        startup: outcome.startup,
    };
    run.write_json(REPORT, &report)?;
    Ok(report)
}
