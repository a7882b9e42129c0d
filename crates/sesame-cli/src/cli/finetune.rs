//! `sesame finetune`: BERT's GLUE recipe on one task, written to a run directory.

use sesame_core::io::CONFIG_FILE;
use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use sesame::backend::{self, AutodiffBackend};
use sesame_cli::options::{RecipeArgs, RunArgs, VariantArgs};
use sesame_cli::progress::TrainProgress;
use sesame_cli::SesameError;
use sesame_core::EncoderConfig;
use sesame_train::job::{finetune, FinetuneJob};
use sesame_train::RunReport;

use super::parse_task;

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// GLUE task: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI.
    #[arg(long, value_parser = parse_task)]
    pub task: sesame_train::Task,
    /// Hugging Face model directory to start from, or a Hub id (`roberta-base`, `org/name@revision`).
    #[arg(long, env = "SESAME_MODEL")]
    pub model: String,
    /// GLUE folder with one sub-folder per task (RTE/train.tsv, …).
    #[arg(long, env = "SESAME_GLUE")]
    pub data_dir: PathBuf,
    /// Run directory (config, metrics.jsonl, checkpoints, best model).
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Skip malformed rows (counted and reported) instead of stopping at the first.
    #[arg(long)]
    pub skip_malformed: bool,
    /// Print the run report as JSON on stdout instead of the banner and the metrics table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub variant: VariantArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: FinetuneArgs) -> Result<(), SesameError> {
    let model_dir = sesame_cli::hub::resolve_model(&args.model)?;
    let job = FinetuneJob {
        task: args.task,
        model_dir,
        data_dir: args.data_dir,
        output_dir: args.output_dir,
        recipe: args.recipe.resolve(),
        model: args.variant.resolve(args.task.num_labels())?,
        checkpoints: args.run.save_policy(),
        skip_malformed: args.skip_malformed,
        missing_weights: args.run.weights.policy(),
    };
    let device = sesame_cli::device()?;
    if !args.json {
        println!("{}", banner(&job, args.variant.variant.name()));
    }
    let mut progress = TrainProgress::new(args.task.name());
    let report = finetune::<AutodiffBackend>(&job, args.run.start(), &device, &mut progress)?;
    drop(progress);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", metrics_table(&report));
    }
    Ok(())
}

/// What is about to run, in two lines: task, model (family and shape), variant, recipe, backend, output.
fn banner(job: &FinetuneJob, variant: &str) -> String {
    let shape = match EncoderConfig::from_file(job.model_dir.join(CONFIG_FILE)) {
        Ok(c) => format!(
            " ({}, {} layers, hidden {})",
            c.family(),
            c.num_hidden_layers(),
            c.hidden_size()
        ),
        Err(_) => String::new(),
    };
    let r = &job.recipe;
    format!(
        "sesame finetune · {} · {}{shape} · variant {}\n\
         {} epoch(s), batch {}, lr {}, seed {} · backend {} · run directory {}",
        job.task.name(),
        job.model_dir.display(),
        variant,
        r.epochs,
        r.batch_size * r.gradient_accumulation,
        r.learning_rate,
        r.seed,
        backend::NAME,
        job.output_dir.display()
    )
}

/// The best and final dev metrics as a table, and where the files are.
fn metrics_table(report: &RunReport) -> String {
    let names: Vec<&String> = report
        .best_metrics
        .keys()
        .chain(report.final_metrics.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let best = match report.best_epoch {
        Some(epoch) => format!("best (epoch {})", epoch + 1),
        None => "best".to_string(),
    };
    let rows: [(&str, &BTreeMap<String, f64>); 2] = [
        (&best, &report.best_metrics),
        ("final", &report.final_metrics),
    ];
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0).max(5);
    let mut out = format!("{:width$}", "dev");
    for name in &names {
        out.push_str(&format!("  {name:>10}"));
    }
    for (label, metrics) in rows {
        out.push_str(&format!("\n{label:width$}"));
        for name in &names {
            match metrics.get(*name) {
                Some(v) => out.push_str(&format!("  {v:>10.4}")),
                None => out.push_str(&format!("  {:>10}", "-")),
            }
        }
    }
    out.push_str(&format!(
        "\n{} train / {} dev examples, {:.1} s · {}",
        report.train_examples,
        report.dev_examples,
        report.wall_seconds,
        report.run_dir.display()
    ));
    out
}
