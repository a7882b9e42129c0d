//! Subcommands of `sesame`.

mod bench;
mod encode;
mod evaluate;
mod finetune;
mod report;
mod submit;

use clap::{Parser, Subcommand};
use sesame_cli::SesameError;
use sesame_train::Task;

/// sesame: fine-tune and evaluate BERT encoders with SesameBERT-style attention enhancements.
#[derive(Parser, Debug)]
#[command(name = "sesame", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Extract every hidden state and the pooler output of a TSV of sentences or sentence pairs.
    Encode(encode::EncodeArgs),
    /// Fine-tune a checkpoint on a GLUE task (BERT's recipe), evaluating on dev each epoch.
    Finetune(Box<finetune::FinetuneArgs>),
    /// Metrics of a fine-tuned model on a labelled split.
    Evaluate(evaluate::EvaluateArgs),
    /// GLUE test-set predictions of a fine-tuned model (`index<TAB>prediction`).
    Predict(evaluate::PredictArgs),
    /// HANS accuracy per heuristic × gold label (and subcase) of an entailment model.
    Hans(evaluate::HansArgs),
    /// Validate GLUE test predictions and write the 11-file submission zip.
    GlueSubmission(submit::SubmissionArgs),
    /// Run an experiment grid (TOML) and write a Markdown report with SVG figures from its run directories.
    Report(report::ReportArgs),
    /// Time one training step or inference batch; prints one JSON line (see docs/performance.md).
    Bench(bench::BenchArgs),
}

/// Parses a task name for clap (`rte`, `SST-2`, `sts-b`, …).
pub fn parse_task(s: &str) -> Result<Task, String> {
    Task::parse(s).ok_or_else(|| format!("unknown task `{s}` ({})", Task::names()))
}

pub fn run(cli: Cli) -> Result<(), SesameError> {
    match cli.command {
        Command::Encode(args) => encode::run(args),
        Command::Finetune(args) => finetune::run(*args),
        Command::Evaluate(args) => evaluate::evaluate(args),
        Command::Predict(args) => evaluate::predict_test(args),
        Command::Hans(args) => evaluate::hans(args),
        Command::GlueSubmission(args) => submit::run(args),
        Command::Report(args) => report::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
