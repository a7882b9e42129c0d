//! `sesame bench`: one JSON line per measurement (see `sesame_cli::bench`).

use clap::{Args, ValueEnum};
use sesame::backend::AutodiffBackend;
use sesame_cli::bench::{run_bench, BenchMode, BenchSpec, BenchVariant, ModelShape};
use sesame_cli::options::PrecisionArgs;
use sesame_cli::SesameError;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    Train,
    Inference,
    /// Both, one line each.
    Both,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// `minilm` (6 × 384), `bert-base` (12 × 768), `modernbert-base` (22 × 768), `deberta-v3-base` (12 × 768), or
    /// a Hugging Face directory whose config.json gives the shape.
    #[arg(long, default_value = "minilm")]
    pub model: String,
    /// Examples per step.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Tokens per example (every example this long: no padding).
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// The model variant timed.
    #[arg(long, value_enum, default_value_t = BenchVariant::Baseline)]
    pub variant: BenchVariant,
    /// What is timed: a training step (forward, loss, backward, clipping, AdamW), an inference batch, or both.
    #[arg(long, value_enum, default_value_t = ModeArg::Train)]
    pub mode: ModeArg,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Untimed steps first (kernel compilation, autotune).
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Steps per timed group; the device is synchronised only between groups.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Timed groups; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
}

fn specs(args: &BenchArgs) -> Vec<BenchSpec> {
    let modes = match args.mode {
        ModeArg::Train => vec![BenchMode::Train],
        ModeArg::Inference => vec![BenchMode::Inference],
        ModeArg::Both => vec![BenchMode::Train, BenchMode::Inference],
    };
    modes
        .into_iter()
        .map(|mode| BenchSpec {
            shape: ModelShape::parse(&args.model),
            batch: args.batch,
            seq_len: args.seq_len,
            variant: args.variant,
            mode,
            precision: args.precision.precision,
            warmup: args.warmup,
            steps: args.steps,
            repeats: args.repeats,
        })
        .collect()
}

pub fn run(args: BenchArgs) -> Result<(), SesameError> {
    let device = sesame_cli::device()?;
    args.precision.apply(&device)?;
    for spec in specs(&args) {
        let result = run_bench::<AutodiffBackend>(&spec, &device)?;
        println!("{}", serde_json::to_string(&result)?);
    }
    Ok(())
}
