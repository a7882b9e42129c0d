//! `sesame bench`: one JSON line per measurement (see `sesame_cli::bench`).

use clap::{Args, ValueEnum};
use sesame::backend::{self, AutodiffBackend};
use sesame_cli::bench::{run_bench, BenchMode, BenchResult, BenchSpec, BenchVariant, ModelShape};
use sesame_cli::SesameError;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
    Bf16,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    Train,
    Inference,
    /// Both, one line each.
    Both,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// `minilm` (6 × 384), `bert-base` (12 × 768), or a Hugging Face directory whose config.json gives the shape.
    #[arg(long, default_value = "minilm")]
    pub model: String,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    #[arg(long, value_enum, default_value_t = BenchVariant::Baseline)]
    pub variant: BenchVariant,
    #[arg(long, value_enum, default_value_t = ModeArg::Train)]
    pub mode: ModeArg,
    /// Element type. f16 and bf16 need a GPU backend (`--features cuda` or `wgpu`); pure half precision, no
    /// f32 master weights.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
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

fn specs(args: &BenchArgs, precision: &str) -> Vec<BenchSpec> {
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
            precision: precision.to_string(),
            warmup: args.warmup,
            steps: args.steps,
            repeats: args.repeats,
        })
        .collect()
}

fn print(result: &BenchResult) {
    println!("{}", serde_json::to_string(result).unwrap_or_default());
}

pub fn run(args: BenchArgs) -> Result<(), SesameError> {
    let device = backend::device();
    match args.precision {
        Precision::F32 => {
            for spec in specs(&args, "f32") {
                print(&run_bench::<AutodiffBackend>(
                    &spec,
                    backend::NAME,
                    &device,
                )?);
            }
            Ok(())
        }
        Precision::F16 | Precision::Bf16 => half::run(&args),
    }
}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod half {
    use super::*;

    #[cfg(feature = "cuda")]
    type Gpu<F> = burn::backend::Cuda<F, i32>;
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    type Gpu<F> = burn::backend::Wgpu<F, i32>;

    pub fn run(args: &BenchArgs) -> Result<(), SesameError> {
        type F16 = burn::backend::Autodiff<Gpu<::half::f16>>;
        type Bf16 = burn::backend::Autodiff<Gpu<::half::bf16>>;
        let device = Default::default();
        let name = backend::NAME;
        if args.precision == Precision::F16 {
            for spec in specs(args, "f16") {
                print(&run_bench::<F16>(&spec, name, &device)?);
            }
        } else {
            for spec in specs(args, "bf16") {
                print(&run_bench::<Bf16>(&spec, name, &device)?);
            }
        }
        Ok(())
    }
}

#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
mod half {
    use super::*;

    pub fn run(_args: &BenchArgs) -> Result<(), SesameError> {
        Err(SesameError::Input {
            path: std::path::PathBuf::from("--precision"),
            message: format!(
                "f16 and bf16 need a GPU backend (build with --features cuda or wgpu); the {} backend computes \
                 in f32",
                backend::NAME
            ),
        })
    }
}
