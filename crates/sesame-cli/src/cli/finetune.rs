//! `sesame finetune`: BERT's GLUE recipe on one task, written to a run directory.

use std::path::PathBuf;

use clap::Args;
use sesame::backend::{self, AutodiffBackend};
use sesame_cli::options::{RecipeArgs, RunArgs, VariantArgs};
use sesame_cli::progress::TrainProgress;
use sesame_cli::SesameError;
use sesame_train::job::{finetune, FinetuneJob};

use super::parse_task;

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// GLUE task: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI.
    #[arg(long, value_parser = parse_task)]
    pub task: sesame_train::Task,
    /// Hugging Face model directory to start from.
    #[arg(long, env = "SESAME_MODEL")]
    pub model: PathBuf,
    /// GLUE folder with one sub-folder per task (RTE/train.tsv, …).
    #[arg(long, env = "SESAME_GLUE")]
    pub data_dir: PathBuf,
    /// Run directory (config, metrics.jsonl, checkpoints, best model).
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Skip malformed rows (counted and reported) instead of stopping at the first.
    #[arg(long)]
    pub skip_malformed: bool,
    #[command(flatten)]
    pub variant: VariantArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: FinetuneArgs) -> Result<(), SesameError> {
    let job = FinetuneJob {
        task: args.task,
        model_dir: args.model,
        data_dir: args.data_dir,
        output_dir: args.output_dir,
        recipe: args.recipe.resolve(),
        model: args.variant.resolve(args.task.num_labels())?,
        checkpoints: args.run.save_policy(),
        skip_malformed: args.skip_malformed,
        missing_weights: args.run.weights.policy(),
        backend: backend::NAME.to_string(),
        dropout_masks: backend::DROPOUT_MASKS,
    };
    let device = backend::device();
    let mut progress = TrainProgress::new(args.task.name());
    let report = finetune::<AutodiffBackend>(&job, args.run.start(), &device, &mut progress)?;
    drop(progress);
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
