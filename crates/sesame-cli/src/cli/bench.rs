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

fn print(result: &BenchResult) -> Result<(), SesameError> {
    println!("{}", serde_json::to_string(result)?);
    Ok(())
}

/// The benchmark of every spec, as a job for any backend (f32 here, or half precision on GPU backends).
struct BenchJob<'a> {
    args: &'a BenchArgs,
    precision: &'static str,
}

impl backend::OnAutodiffBackend for BenchJob<'_> {
    type Output = Result<(), SesameError>;

    fn run<B: sesame_core::SesameAutodiffBackend>(self, device: &B::Device) -> Self::Output {
        for spec in specs(self.args, self.precision) {
            print(&run_bench::<B>(&spec, backend::NAME, device)?)?;
        }
        Ok(())
    }
}

pub fn run(args: BenchArgs) -> Result<(), SesameError> {
    use backend::OnAutodiffBackend as _;
    let (precision, half) = match args.precision {
        Precision::F32 => {
            let job = BenchJob {
                args: &args,
                precision: "f32",
            };
            return job.run::<AutodiffBackend>(&sesame_cli::device()?);
        }
        Precision::F16 => ("f16", backend::HalfPrecision::F16),
        Precision::Bf16 => ("bf16", backend::HalfPrecision::Bf16),
    };
    sesame_cli::device()?;
    backend::run_in_half_precision(BenchJob { args: &args, precision }, half).unwrap_or_else(|| {
        Err(SesameError::Input {
            path: std::path::PathBuf::from("--precision"),
            message: format!(
                "f16 and bf16 need a GPU backend (build with --features cuda or wgpu); the {} backend computes \
                 in f32",
                backend::NAME
            ),
        })
    })
}
