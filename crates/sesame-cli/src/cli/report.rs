//! `sesame report`: run a declared experiment grid and write the Markdown report with its figures.

use std::path::PathBuf;

use clap::Args;
use sesame::backend::AutodiffBackend;
use sesame_cli::report::{generate, ReportPaths};
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
}

pub fn run(args: ReportArgs) -> Result<(), SesameError> {
    let paths = ReportPaths {
        grid: args.grid,
        runs: args.runs,
        output: args.output,
    };
    let device = sesame_cli::device()?;
    generate::<AutodiffBackend>(&paths, !args.collect_only, &device)?;
    eprintln!("wrote {}", paths.output.display());
    Ok(())
}
