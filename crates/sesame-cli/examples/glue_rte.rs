//! Fine-tunes the MiniLM checkpoint on GLUE RTE twice — plain BERT fine-tuning and SesameBERT (SE over layers +
//! Gaussian blur on the attention context) — with BERT's recipe, and prints both dev accuracies.
//!
//! ```sh
//! cargo run --release --example glue_rte                      # CPU (ndarray)
//! cargo run --release --example glue_rte --features cuda      # NVIDIA GPU
//! cargo run --release --example glue_rte -- --epochs 1 --max-train-samples 256   # a quick look
//! ```
//!
//! Paths default to `../shared` beside the repository; override with `--model`/`SESAME_MODEL`,
//! `--data-dir`/`SESAME_GLUE` and `--output-dir`.

mod common;

use std::path::PathBuf;

use clap::Parser;
use sesame::backend::{self, AutodiffBackend};
use sesame::train::{finetune, FinetuneJob, Task};
use sesame::{Preset, SesameConfig};
use sesame_cli::options::{RecipeArgs, RunArgs};
use sesame_cli::progress::TrainProgress;

/// Baseline vs SesameBERT on RTE.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    data: common::SharedData,
    /// Where the two run directories go.
    #[arg(long, default_value = "runs/glue_rte")]
    output_dir: PathBuf,
    #[command(flatten)]
    recipe: RecipeArgs,
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> std::process::ExitCode {
    sesame::alloc::tune_allocator();
    sesame::runtime::count_kernels();
    let args = Args::parse();
    let device = match sesame_cli::device() {
        Ok(device) => device,
        Err(err) => {
            eprintln!("error: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let task = Task::Rte;
    let variants = [Preset::Baseline, Preset::Sesamebert];
    eprintln!(
        "RTE with {} on the {} backend: lr {}, batch {}, {} epochs, max length {}",
        args.data.model.display(),
        backend::NAME,
        args.recipe.learning_rate,
        args.recipe.batch_size,
        args.recipe.epochs,
        args.recipe.max_seq_length
    );
    let mut results = Vec::new();
    for preset in variants {
        let name = preset.name();
        let job = FinetuneJob {
            task,
            model_dir: args.data.model.clone(),
            data_dir: args.data.data_dir.clone(),
            output_dir: args.output_dir.join(name),
            recipe: args.recipe.resolve(),
            model: SesameConfig::preset(preset, task.num_labels()),
            checkpoints: args.run.save_policy(),
            skip_malformed: false,
            missing_weights: args.run.weights.policy(),
        };
        let mut progress = TrainProgress::new(name);
        match finetune::<AutodiffBackend>(&job, args.run.start(), &device, &mut progress) {
            Ok(report) => results.push((name, report)),
            Err(err) => {
                drop(progress);
                eprintln!("error: {err}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!(
        "\nRTE dev accuracy ({} backend, seed {}); `final` is the model after the last epoch, as `run_glue.py` \
         reports it, `best` the best epoch, kept in the run's best/:",
        backend::NAME,
        args.recipe.seed
    );
    let accuracy = |m: &std::collections::BTreeMap<String, f64>| {
        100.0 * m.get("accuracy").copied().unwrap_or(f64::NAN)
    };
    for (name, report) in &results {
        println!(
            "  {name:<11} final {:.2}%  best {:.2}% (epoch {})  {:.0} s  run: {}",
            accuracy(&report.final_metrics),
            accuracy(&report.best_metrics),
            report.best_epoch.map_or(0, |e| e + 1),
            report.wall_seconds,
            report.run_dir.display()
        );
    }
    std::process::ExitCode::SUCCESS
}
