//! `sesame evaluate`, `sesame predict` and `sesame hans`: a fine-tuned model directory on labelled, test and
//! HANS data.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use sesame::backend::{self, Backend};
use sesame::finetune::load_split;
use sesame::train::batching::TokenizedSet;
use sesame::train::export::{load_exported, SesameMeta};
use sesame::train::learner::{predict, ModelOutputs};
use sesame::train::metrics::task_metrics;
use sesame::train::{MalformedRows, Split, Task};
use sesame::{BertTokenizer, SequenceClassifierOf, SesameError};

use super::parse_task;

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

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A fine-tuned model directory (a run's `best/`).
    #[arg(long)]
    pub model: PathBuf,
    /// Task of the data (default: the task the model was trained on).
    #[arg(long, value_parser = parse_task)]
    pub task: Option<Task>,
    #[arg(long, env = "SESAME_GLUE")]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = SplitArg::Dev)]
    pub split: SplitArg,
    #[arg(long, default_value_t = 128)]
    pub max_seq_length: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_parser = parse_task)]
    pub task: Option<Task>,
    #[arg(long, env = "SESAME_GLUE")]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    /// Output file in GLUE submission format (`index<TAB>prediction`).
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 128)]
    pub max_seq_length: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
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
    #[arg(long, default_value_t = 128)]
    pub max_seq_length: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

/// A fine-tuned model, its tokenizer at `max_len`, and its outputs on one split of `task` (default: the
/// model's own task).
struct SplitRun {
    task: Task,
    set: TokenizedSet,
    outputs: ModelOutputs,
}

fn run_on_split(
    dir: &Path,
    task: Option<Task>,
    data_dir: &Path,
    split: Split,
    max_len: usize,
    batch_size: usize,
) -> Result<SplitRun, SesameError> {
    let device = backend::device();
    let (model, meta): (SequenceClassifierOf<Backend>, SesameMeta) =
        load_exported::<Backend>(dir, &device)?;
    let tokenizer = BertTokenizer::from_dir(dir, max_len)?;
    let task = task.unwrap_or(meta.task);
    let (_, set) = load_split(task, data_dir, split, &tokenizer, MalformedRows::Error)?;
    let bar = sesame::progress::bar(set.len() as u64, "rows");
    let outputs = predict(&model, &set, batch_size, tokenizer.pad_id(), 1, &device)?;
    bar.finish_and_clear();
    Ok(SplitRun { task, set, outputs })
}

pub fn evaluate(args: EvaluateArgs) -> Result<(), SesameError> {
    let SplitRun {
        task, set, outputs, ..
    } = run_on_split(
        &args.model,
        args.task,
        &args.data_dir,
        args.split.into(),
        args.max_seq_length,
        args.batch_size,
    )?;
    let predictions = outputs
        .against(task, &set)
        .ok_or_else(|| SesameError::Input {
            path: args.data_dir.clone(),
            message: "the split has unlabelled examples; use `sesame predict`".into(),
        })?;
    let metrics = task_metrics(task, &predictions);
    println!(
        "{}",
        serde_json::to_string_pretty(
            &serde_json::json!({"task": task, "examples": set.len(), "metrics": metrics})
        )
        .unwrap_or_default()
    );
    Ok(())
}

/// GLUE submission rows: `index<TAB>prediction` with the task's label strings (STS-B: `%.3f` in [0, 5]).
pub fn submission_rows(task: Task, classes: &[usize], values: &[f64]) -> String {
    let mut out = String::from("index\tprediction\n");
    if task.is_regression() {
        for (i, v) in values.iter().enumerate() {
            out.push_str(&format!("{i}\t{:.3}\n", v.clamp(0.0, 5.0)));
        }
    } else {
        for (i, &c) in classes.iter().enumerate() {
            out.push_str(&format!(
                "{i}\t{}\n",
                task.labels().get(c).copied().unwrap_or("0")
            ));
        }
    }
    out
}

pub fn predict_test(args: PredictArgs) -> Result<(), SesameError> {
    let SplitRun {
        task, set, outputs, ..
    } = run_on_split(
        &args.model,
        args.task,
        &args.data_dir,
        args.split.into(),
        args.max_seq_length,
        args.batch_size,
    )?;
    // AX is predicted by an MNLI model; its labels are MNLI's.
    let rows = submission_rows(task, &outputs.classes(), &outputs.values());
    sesame::train::fsio::write_atomic(&args.output, rows.as_bytes())?;
    eprintln!(
        "wrote {} predictions to {}",
        set.len(),
        args.output.display()
    );
    Ok(())
}

pub fn hans(args: HansArgs) -> Result<(), SesameError> {
    let outcome = sesame::hans_eval::evaluate_hans(
        &args.model,
        &args.hans_file,
        args.max_seq_length,
        args.batch_size,
        1,
    )?;
    outcome.write(&args.output_dir)?;
    println!("{}", outcome.report.to_markdown());
    Ok(())
}
