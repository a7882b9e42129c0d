//! `sesame glue-submission`: validate prediction files and zip them for the GLUE server.

use std::path::PathBuf;

use clap::Args;
use sesame_cli::SesameError;
use sesame_train::submission::write_submission;

#[derive(Args, Debug)]
pub struct SubmissionArgs {
    /// Folder with `CoLA.tsv`, `SST-2.tsv`, …, `AX.tsv` as written by `sesame predict`.
    #[arg(long)]
    pub predictions_dir: PathBuf,
    /// The zip to write.
    #[arg(long)]
    pub output: PathBuf,
    /// Fail on a missing task instead of filling in placeholder predictions.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: SubmissionArgs) -> Result<(), SesameError> {
    let summary = write_submission(&args.predictions_dir, &args.output, args.strict)?;
    eprintln!(
        "wrote {} with predictions for {} and placeholders for {}",
        summary.zip.display(),
        if summary.predicted.is_empty() {
            "no task".to_string()
        } else {
            summary.predicted.join(", ")
        },
        if summary.placeholders.is_empty() {
            "none".to_string()
        } else {
            summary.placeholders.join(", ")
        },
    );
    Ok(())
}
