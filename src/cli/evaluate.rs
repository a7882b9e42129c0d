//! `sesame evaluate`, `sesame predict` and `sesame hans`: a fine-tuned model directory on labelled, test and
//! HANS data.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use sesame::backend::{self, Backend};
use sesame::finetune::load_split;
use sesame::train::batching::TokenizedSet;
use sesame::train::export::{load_exported, SesameMeta};
use sesame::train::hans::{prediction_file, to_hans_class, HansReport};
use sesame::train::learner::{predict, ModelOutputs};
use sesame::train::metrics::task_metrics;
use sesame::train::{Dataset, MalformedRows, Split, Task};
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
    meta: SesameMeta,
    data: Dataset,
    set: TokenizedSet,
    outputs: ModelOutputs,
}

/// Where the examples come from: a task folder's split, or an explicit file of a task.
enum Source<'a> {
    Split(&'a Path, Split),
    File(&'a Path, Task),
}

fn run_on_split(
    dir: &Path,
    task: Option<Task>,
    source: Source<'_>,
    max_len: usize,
    batch_size: usize,
) -> Result<SplitRun, SesameError> {
    let device = backend::device();
    let (model, meta): (SequenceClassifierOf<Backend>, SesameMeta) =
        load_exported::<Backend>(dir, &device)?;
    let tokenizer = BertTokenizer::from_dir(dir, max_len)?;
    let (task, (data, set)) = match source {
        Source::Split(data_dir, split) => {
            let task = task.unwrap_or(meta.task);
            (
                task,
                load_split(task, data_dir, split, &tokenizer, MalformedRows::Error)?,
            )
        }
        Source::File(path, file_task) => {
            let data = file_task.load_file(path, Split::Test, MalformedRows::Error)?;
            let set = TokenizedSet::new(&data, &tokenizer)?;
            (file_task, (data, set))
        }
    };
    let bar = sesame::progress::bar(set.len() as u64, "rows");
    let outputs = predict(&model, &set, batch_size, tokenizer.pad_id(), 1, &device)?;
    bar.finish_and_clear();
    Ok(SplitRun {
        task,
        meta,
        data,
        set,
        outputs,
    })
}

pub fn evaluate(args: EvaluateArgs) -> Result<(), SesameError> {
    let SplitRun {
        task, set, outputs, ..
    } = run_on_split(
        &args.model,
        args.task,
        Source::Split(&args.data_dir, args.split.into()),
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
        Source::Split(&args.data_dir, args.split.into()),
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
    let SplitRun {
        meta,
        data,
        outputs,
        ..
    } = run_on_split(
        &args.model,
        None,
        Source::File(&args.hans_file, Task::Hans),
        args.max_seq_length,
        args.batch_size,
    )?;
    let predicted: Vec<usize> = outputs
        .classes()
        .into_iter()
        .map(|c| {
            to_hans_class(meta.task, c).ok_or_else(|| SesameError::Input {
                path: args.model.clone(),
                message: format!("a {} model does not predict entailment", meta.task.name()),
            })
        })
        .collect::<Result<_, _>>()?;
    let report = HansReport::new(&data.examples, &predicted);
    std::fs::create_dir_all(&args.output_dir).map_err(|e| SesameError::Output {
        path: args.output_dir.clone(),
        message: e.to_string(),
    })?;
    let write = |name: &str, text: String| {
        sesame::train::fsio::write_atomic(&args.output_dir.join(name), text.as_bytes())
    };
    write(
        "hans_predictions.txt",
        prediction_file(&data.examples, &predicted),
    )?;
    write("hans_report.md", report.to_markdown())?;
    write(
        "hans_report.json",
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    println!("{}", report.to_markdown());
    Ok(())
}
