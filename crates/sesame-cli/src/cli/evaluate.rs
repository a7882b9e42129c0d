//! `sesame evaluate`, `sesame predict` and `sesame hans`: a fine-tuned model directory on labelled, test and
//! HANS data.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sesame_cli::options::PrecisionArgs;
use sesame_cli::predict::{run_on_split, submission_rows, SplitRun};
use sesame_cli::SesameError;
use sesame_train::metrics::task_metrics;
use sesame_train::{Split, Task};

use super::parse_task;

/// How a fine-tuned model runs over a file: the flags `evaluate`, `predict` and `hans` share.
#[derive(Args, Debug)]
pub struct InferenceArgs {
    /// Longest encoding in tokens (pairs beyond it are truncated), as `run_glue.py`'s `--max_seq_length`.
    #[arg(long, default_value_t = 128)]
    pub max_seq_length: usize,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[command(flatten)]
    pub precision: PrecisionArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SplitArg {
    Train,
    Dev,
    DevMismatched,
    Test,
    TestMismatched,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Split {
        match s {
            SplitArg::Train => Split::Train,
            SplitArg::Dev => Split::Dev,
            SplitArg::DevMismatched => Split::DevMismatched,
            SplitArg::Test => Split::Test,
            SplitArg::TestMismatched => Split::TestMismatched,
        }
    }
}

/// A fine-tuned model and the task data it runs over: the flags `evaluate` and `predict` share.
#[derive(Args, Debug)]
pub struct ModelOnData {
    /// A fine-tuned model: a run's `best/`, a `*ForSequenceClassification` directory fine-tuned elsewhere, or
    /// such a model's Hub id.
    #[arg(long)]
    pub model: String,
    /// Task of the data (default: the task the model was trained on).
    #[arg(long, value_parser = parse_task)]
    pub task: Option<Task>,
    /// The GLUE folder: one subfolder per task (`RTE/dev.tsv`, …), as GLUE's download unpacks.
    #[arg(long, env = "SESAME_GLUE")]
    pub data_dir: PathBuf,
}

impl ModelOnData {
    /// The model over `split` of its task's data, in the precision `run` asks for.
    fn run(&self, split: SplitArg, run: &InferenceArgs) -> Result<SplitRun, SesameError> {
        run.precision.apply(&sesame_cli::device()?)?;
        run_on_split(
            &sesame_cli::hub::resolve_model(&self.model)?,
            self.task,
            &self.data_dir,
            split.into(),
            run.max_seq_length,
            run.batch_size,
        )
    }
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub on: ModelOnData,
    /// The labelled split to score.
    #[arg(long, value_enum, default_value_t = SplitArg::Dev)]
    pub split: SplitArg,
    #[command(flatten)]
    pub run: InferenceArgs,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[command(flatten)]
    pub on: ModelOnData,
    /// The split to predict (labels, if any, are not read).
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    /// Output file in GLUE submission format (`index<TAB>prediction`).
    #[arg(long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub run: InferenceArgs,
}

#[derive(Args, Debug)]
pub struct HansArgs {
    /// A model fine-tuned on an entailment task (RTE, QNLI: 2 classes; MNLI: 3 classes, collapsed).
    #[arg(long)]
    pub model: PathBuf,
    /// HANS evaluation file (original 11-column or the derived 4-column TSV).
    #[arg(long, env = "SESAME_HANS")]
    pub hans_file: PathBuf,
    /// Where to write hans_predictions.txt (official format), hans_report.json and hans_report.md.
    #[arg(long)]
    pub output_dir: PathBuf,
    #[command(flatten)]
    pub run: InferenceArgs,
}

pub fn evaluate(args: EvaluateArgs) -> Result<(), SesameError> {
    let SplitRun {
        task, set, outputs, ..
    } = args.on.run(args.split, &args.run)?;
    let predictions = outputs
        .against(task, &set)
        .ok_or_else(|| SesameError::Input {
            path: args.on.data_dir.clone(),
            message: "the split has unlabelled examples; use `sesame predict`".into(),
        })?;
    let metrics = task_metrics(task, &predictions);
    println!(
        "{}",
        serde_json::to_string_pretty(
            &serde_json::json!({"task": task, "examples": set.len(), "metrics": metrics})
        )?
    );
    Ok(())
}

pub fn predict_test(args: PredictArgs) -> Result<(), SesameError> {
    let SplitRun {
        task, set, outputs, ..
    } = args.on.run(args.split, &args.run)?;
    // AX is predicted by an MNLI model; its labels are MNLI's.
    let rows = submission_rows(task, &outputs);
    sesame_train::fsio::write_atomic(&args.output, rows.as_bytes())?;
    eprintln!(
        "wrote {} predictions to {}",
        set.len(),
        args.output.display()
    );
    Ok(())
}

pub fn hans(args: HansArgs) -> Result<(), SesameError> {
    args.run.precision.apply(&sesame_cli::device()?)?;
    let outcome = sesame_cli::hans_eval::evaluate_hans(
        &args.model,
        &args.hans_file,
        args.run.max_seq_length,
        args.run.batch_size,
        1,
    )?;
    outcome.write(&args.output_dir)?;
    println!("{}", outcome.report.to_markdown());
    Ok(())
}
