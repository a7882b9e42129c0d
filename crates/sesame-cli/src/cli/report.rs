//! `sesame report`: run a declared experiment grid and write the Markdown report with its figures.

use std::path::PathBuf;

use clap::Args;
use sesame::backend::AutodiffBackend;
use sesame_cli::report::runs::Shard;
use sesame_cli::report::{generate, train_shard, ReportPaths};
use sesame_cli::SesameError;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The experiment grid (TOML; see docs/results.md and experiments/).
    #[arg(long)]
    pub grid: PathBuf,
    /// Root of the run directories; finished runs there are read, not repeated.
    #[arg(long)]
    pub runs: PathBuf,
    /// The Markdown file to write; SVG figures go to `figures/` beside it.
    #[arg(long)]
    pub output: PathBuf,
    /// Only collect finished runs and write the report; train nothing.
    #[arg(long)]
    pub collect_only: bool,
    /// Train only share i of n (0 ≤ i < n) of the runs and write no report, for grids spread over several
    /// processes or machines on a shared --runs directory; `--collect-only` then writes the report. Inside a
    /// Slurm job array the share is the array task's (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT) unless
    /// this flag is given.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse, conflicts_with = "collect_only")]
    pub shard: Option<Shard>,
}

pub fn run(args: ReportArgs) -> Result<(), SesameError> {
    let paths = ReportPaths {
        grid: args.grid,
        runs: args.runs,
        output: args.output,
    };
    let slurm = if args.collect_only {
        None
    } else {
        Shard::from_slurm(|name| std::env::var(name).ok())
            .map_err(|message| SesameError::Setting(format!("Slurm array: {message}")))?
    };
    let device = sesame_cli::device()?;
    if let Some(shard) = args.shard.or(slurm) {
        let held = train_shard::<AutodiffBackend>(&paths, shard, &device)?;
        eprintln!(
            "shard {}/{} done{}; when every shard is, write the report with --collect-only",
            shard.index,
            shard.count,
            if held.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} of its runs were left to the processes training them)",
                    held.len()
                )
            }
        );
        return Ok(());
    }
    generate::<AutodiffBackend>(&paths, !args.collect_only, &device)?;
    eprintln!("wrote {}", paths.output.display());
    Ok(())
}
