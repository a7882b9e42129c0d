//! Subcommands of `sesame`.

mod bench;
mod encode;
mod evaluate;
mod finetune;
mod report;
mod rerun;
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
    /// The memory a model may take (`16G`, `512M`, bytes). A load or training run whose estimate (from
    /// config.json's sizes, before anything is allocated) exceeds it stops with an error. Default: the memory
    /// the machine has available.
    #[arg(long, global = true, env = "SESAME_MAX_MEMORY", value_parser = parse_memory)]
    max_memory: Option<u64>,
}

fn parse_memory(s: &str) -> Result<u64, String> {
    sesame_core::memory::parse_bytes(s)
        .ok_or_else(|| format!("`{s}` is not a size (write bytes, or a number with K, M, G or T)"))
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
    /// Train the job a run directory recorded again, in a new directory, and compare the dev metrics.
    Rerun(rerun::RerunArgs),
    /// Time one training step or inference batch; prints one JSON line (see docs/performance.md).
    Bench(bench::BenchArgs),
}

/// Parses a task name for clap (`rte`, `SST-2`, `sts-b`, …).
pub fn parse_task(s: &str) -> Result<Task, String> {
    Task::parse(s).ok_or_else(|| format!("unknown task `{s}` ({})", Task::names()))
}

pub fn run(cli: Cli) -> Result<(), SesameError> {
    sesame_core::memory::set_limit(cli.max_memory);
    match cli.command {
        Command::Encode(args) => encode::run(args),
        Command::Finetune(args) => finetune::run(*args),
        Command::Evaluate(args) => evaluate::evaluate(args),
        Command::Predict(args) => evaluate::predict_test(args),
        Command::Hans(args) => evaluate::hans(args),
        Command::GlueSubmission(args) => submit::run(args),
        Command::Report(args) => report::run(args),
        Command::Rerun(args) => rerun::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
