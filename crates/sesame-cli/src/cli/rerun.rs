//! `sesame rerun`: trains the job a run directory recorded (its `config.json`) again, in a new run directory,
//! and compares the dev metrics with the recorded ones: the check that a recorded result is reproducible.

use std::path::PathBuf;

use clap::Args;
use sesame::backend::AutodiffBackend;
use sesame_cli::progress::TrainProgress;
use sesame_cli::SesameError;
use sesame_train::job::{finetune, FinetuneJob, Start};
use sesame_train::run::{RunDir, CONFIG, REPORT};

#[derive(Args, Debug)]
pub struct RerunArgs {
    /// The recorded run (a directory with config.json and, to compare, report.json).
    pub run: PathBuf,
    /// The new run directory.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// The model directory, where the recorded path does not exist here.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The GLUE folder, where the recorded path does not exist here.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: RerunArgs) -> Result<(), SesameError> {
    let recorded = RunDir {
        path: args.run.clone(),
    };
    let job = FinetuneJob::read(&recorded)?.ok_or_else(|| SesameError::Input {
        path: recorded.file(CONFIG),
        message: "no recorded job here (not a run directory?)".into(),
    })?;
    let job = FinetuneJob {
        model_dir: args.model.unwrap_or(job.model_dir),
        data_dir: args.data_dir.unwrap_or(job.data_dir),
        output_dir: args.output_dir,
        ..job
    };
    let before = recorded.report()?;
    let device = sesame_cli::device()?;
    let mut progress = TrainProgress::new(format!("rerun {}", args.run.display()));
    let report = finetune::<AutodiffBackend>(&job, Start::New, &device, &mut progress)?;
    drop(progress);
    let Some(before) = before else {
        println!(
            "no {} to compare with; the new run's best dev metrics: {:?}",
            recorded.file(REPORT).display(),
            report.best_metrics
        );
        return Ok(());
    };
    let mut same = true;
    for (name, old) in &before.best_metrics {
        let new = report.best_metrics.get(name).copied();
        let equal = new.is_some_and(|n| n.to_bits() == old.to_bits());
        same &= equal;
        println!(
            "{name:>12}  recorded {old:.6}  rerun {}  {}",
            new.map_or("-".into(), |n| format!("{n:.6}")),
            if equal { "identical" } else { "DIFFERENT" }
        );
    }
    if same && before.best_epoch == report.best_epoch {
        println!("the rerun reproduces {} exactly", args.run.display());
        Ok(())
    } else {
        Err(SesameError::NotReproduced {
            run: args.run,
            rerun: report.run_dir,
        })
    }
}
