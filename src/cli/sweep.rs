//! `sesame sweep`: variants × σ values × seeds on one task, then a table of dev mean ± std with σ chosen on
//! dev, as the paper chooses it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use sesame::backend::{self, AutodiffBackend};
use sesame::finetune::{finetune, FinetuneJob, FinetuneReport};
use sesame::options::{Preset, RecipeArgs};
use sesame::progress::TrainProgress;
use sesame::report::runs::mean_std;
use sesame::train::metrics::selection_metric;
use sesame::train::Task;
use sesame::{SesameConfig, SesameError};

use super::parse_task;

#[derive(Args, Debug)]
pub struct SweepArgs {
    #[arg(long, value_parser = parse_task)]
    pub task: Task,
    #[arg(long, env = "SESAME_MODEL")]
    pub model: PathBuf,
    #[arg(long, env = "SESAME_GLUE")]
    pub data_dir: PathBuf,
    /// One run directory per cell goes here, plus sweep.md and sweep.json.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Variants (baseline, sesamebert, se, blur), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "baseline,sesamebert")]
    pub variants: Vec<String>,
    /// σ values tried for variants with a blur.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.1,0.3,0.5")]
    pub sigmas: Vec<f64>,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

fn preset(name: &str) -> Result<Preset, SesameError> {
    match name {
        "baseline" => Ok(Preset::Baseline),
        "sesamebert" => Ok(Preset::Sesamebert),
        "se" => Ok(Preset::Se),
        "blur" => Ok(Preset::Blur),
        other => Err(SesameError::Input {
            path: PathBuf::from("--variants"),
            message: format!("unknown variant `{other}` (baseline, sesamebert, se, blur)"),
        }),
    }
}

fn model_config(p: Preset, labels: usize, sigma: Option<f64>) -> SesameConfig {
    let mut c = match p {
        Preset::Baseline => SesameConfig::baseline(labels),
        Preset::Sesamebert => SesameConfig::sesamebert(labels),
        Preset::Se => {
            let mut c = SesameConfig::sesamebert(labels);
            c.attention.blur = None;
            c
        }
        Preset::Blur => {
            let mut c = SesameConfig::sesamebert(labels);
            c.layers = Default::default();
            c
        }
    };
    if let (Some(b), Some(s)) = (c.attention.blur.as_mut(), sigma) {
        b.sigma = s;
    }
    c
}

pub fn run(args: SweepArgs) -> Result<(), SesameError> {
    let device = backend::device();
    let metric = selection_metric(args.task);
    // (variant, σ) → scores over seeds.
    let mut cells: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for name in &args.variants {
        let p = preset(name)?;
        let blurs = model_config(p, args.task.num_labels(), None)
            .attention
            .blur
            .is_some();
        let sigmas: Vec<Option<f64>> = if blurs {
            args.sigmas.iter().map(|s| Some(*s)).collect()
        } else {
            vec![None]
        };
        for sigma in sigmas {
            let sigma_label = sigma.map_or("-".to_string(), |s| format!("{s}"));
            for &seed in &args.seeds {
                let dir = args
                    .output_dir
                    .join(format!("{name}-sigma{sigma_label}-seed{seed}"));
                let report_path = dir.join("report.json");
                let report: FinetuneReport = if let Some(done) =
                    std::fs::read_to_string(&report_path)
                        .ok()
                        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                {
                    eprintln!("[sweep] {} done already", dir.display());
                    let score = done["best_metrics"][metric].as_f64().unwrap_or(f64::NAN);
                    cells
                        .entry((name.clone(), sigma_label.clone()))
                        .or_default()
                        .push(score);
                    continue;
                } else {
                    let mut recipe = args.recipe.resolve(args.task);
                    recipe.seed = seed;
                    let job = FinetuneJob {
                        task: args.task,
                        model_dir: args.model.clone(),
                        data_dir: args.data_dir.clone(),
                        output_dir: dir.clone(),
                        recipe,
                        model: model_config(p, args.task.num_labels(), sigma),
                        resume: true,
                        skip_malformed: false,
                        backend: backend::NAME.to_string(),
                    };
                    let mut progress =
                        TrainProgress::new(format!("{name} σ={sigma_label} seed={seed}"));
                    finetune::<AutodiffBackend>(&job, &device, &mut progress)?
                };
                let score = report.best_metrics.get(metric).copied().unwrap_or(f64::NAN);
                cells
                    .entry((name.clone(), sigma_label.clone()))
                    .or_default()
                    .push(score);
            }
        }
    }
    let mut table = format!(
        "# Sweep on {} (dev {metric}, mean ± sample std over seeds)\n\n| variant | σ | {metric} | seeds |\n|---|---|---|---|\n",
        args.task.name()
    );
    let mut best: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for ((variant, sigma), scores) in &cells {
        let (m, s) = mean_std(scores);
        table.push_str(&format!(
            "| {variant} | {sigma} | {:.2} ± {:.2} | {} |\n",
            100.0 * m,
            100.0 * s,
            scores.len()
        ));
        if best.get(variant).is_none_or(|(_, b)| m > *b) {
            best.insert(variant.clone(), (sigma.clone(), m));
        }
    }
    table.push_str("\nσ chosen on dev per variant:\n\n");
    for (variant, (sigma, m)) in &best {
        table.push_str(&format!("- {variant}: σ = {sigma} ({:.2})\n", 100.0 * m));
    }
    let json: BTreeMap<String, &Vec<f64>> = cells
        .iter()
        .map(|((v, s), x)| (format!("{v}/sigma={s}"), x))
        .collect();
    sesame::train::fsio::write_atomic(&args.output_dir.join("sweep.md"), table.as_bytes())?;
    sesame::train::fsio::write_atomic(
        &args.output_dir.join("sweep.json"),
        serde_json::to_string_pretty(&json)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    println!("{table}");
    Ok(())
}
