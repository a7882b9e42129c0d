//! The first updates of BERT's fine-tuning recipe, step by step, for comparison with PyTorch: MiniLM + a fresh
//! classification head (or `--model`: any checkpoint sesame reads, such as the tiny ModernBERT and DeBERTa-v3
//! classifiers with their heads) on the first `steps × 32` RTE training examples in file order, dropout off (so both
//! sides compute the same deterministic function), AdamW (ε 1e-6, weight decay 0.01 except biases and
//! LayerNorm), global-norm clipping 1.0, linear warmup 10 % + decay, lr 3e-5.
//!
//! Writes to `--out`: `init/` (the starting model as a Hugging Face directory), `batches.json` (the token ids),
//! `sesame.jsonl` (loss and pre-clipping gradient norm per update, and the loss on batch 0 after training).
//! `python tests/peers/recipe_trajectory.py OUT` replays the same updates in `transformers` and compares.
//!
//! ```sh
//! cargo run --release --example recipe_trajectory -- --out /tmp/trajectory
//! cargo run --release --example recipe_trajectory --features wgpu -- --out /tmp/t16 --precision f16
//! ```
//!
//! `--precision` takes the GPU backends' product precisions (`sesame_core::fused::precision`); f16 scales the
//! loss as the learner does.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use burn::module::AutodiffModule;
use burn::tensor::backend::Backend as _;
use clap::Parser;
use sesame::backend::{self, AutodiffBackend as AD};
use sesame::train::batching::{Padding, TokenizedSet};
use sesame::train::export::export_model;
use sesame::train::loss_scale::LossScale;
use sesame::train::optim::{AdamWConfig, BertAdamW, StepRates};
use sesame::train::schedule::{linear_warmup_decay, warmup_steps};
use sesame::train::step::{MicroBatch, TrainStep};
use sesame::train::{MalformedRows, Split, Task};
use sesame::{BertTokenizer, SequenceClassifier, SesameConfig};
use sesame_cli::options::PrecisionArgs;

/// Each batch padded to its longest example, as `transformers`' collator does.
const DYNAMIC: Padding = Padding::Longest { multiple: 1 };

#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    data: common::SharedData,
    /// Updates to replay.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Examples per update.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Folder for the starting model, the batches and the trajectory.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    precision: PrecisionArgs,
}

/// The dropout probabilities of the configs of BERT's family, ModernBERT and DeBERTa.
const DROPOUT_FIELDS: [&str; 8] = [
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "classifier_dropout",
    "embedding_dropout",
    "attention_dropout",
    "mlp_dropout",
    "pooler_dropout",
    "cls_dropout",
];

/// A copy of the checkpoint in `model` under `out/model-nodropout` with dropout switched off in its config, its
/// other files linked through.
fn without_dropout(
    model: &std::path::Path,
    out: &std::path::Path,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let model_dir = out.join("model-nodropout");
    std::fs::create_dir_all(&model_dir)?;
    for entry in std::fs::read_dir(model)? {
        let path = entry?.path();
        let name = path.file_name().ok_or("bad file name")?.to_owned();
        let target = model_dir.join(&name);
        if name == sesame_core::io::CONFIG_FILE {
            let mut config: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            // Every architecture's dropout fields (BERT's two, ModernBERT's four, DeBERTa's head ones) that
            // the config sets.
            if let Some(fields) = config.as_object_mut() {
                for (key, value) in fields.iter_mut() {
                    if DROPOUT_FIELDS.contains(&key.as_str()) && value.is_number() {
                        *value = 0.0.into();
                    }
                }
            }
            std::fs::write(&target, serde_json::to_string_pretty(&config)?)?;
        } else if path.is_file() && !target.exists() {
            std::os::unix::fs::symlink(std::fs::canonicalize(&path)?, &target)?;
        }
    }
    Ok(model_dir)
}

/// The batches as PyTorch reads them back: shape, token ids, token types, mask and labels of each.
fn batches_json(set: &TokenizedSet, batches: &[Vec<usize>], pad_id: u32) -> serde_json::Value {
    let dumped: Vec<serde_json::Value> = batches
        .iter()
        .map(|indices| {
            let b = set.batch(indices, pad_id, &DYNAMIC);
            let labels: Vec<i64> = indices
                .iter()
                .map(|&i| match set.labels[i] {
                    Some(sesame::train::Label::Class(c)) => c as i64,
                    _ => -1,
                })
                .collect();
            serde_json::json!({
                "shape": [b.batch_size, b.seq_len],
                "input_ids": b.input_ids, "token_type_ids": b.token_type_ids,
                "attention_mask": b.attention_mask, "labels": labels,
            })
        })
        .collect();
    serde_json::Value::Array(dumped)
}

/// Prints a line of the trajectory and keeps it for `sesame.jsonl`.
fn log_line(log: &mut String, line: serde_json::Value) {
    println!("{line}");
    log.push_str(&format!("{line}\n"));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sesame::alloc::tune_allocator();
    let args = Args::parse();
    let device = sesame_cli::device()?;
    args.precision.apply(&device)?;
    std::fs::create_dir_all(&args.out)?;
    let model_dir = without_dropout(&args.data.model, &args.out)?;
    AD::seed(&device, 42);
    let refuse = sesame::MissingWeights::Refuse;
    let baseline = SesameConfig::baseline(2);
    let (mut model, _) =
        SequenceClassifier::<AD>::from_pretrained(&model_dir, &baseline, refuse, &device)?;
    let init = args.out.join("init");
    std::fs::create_dir_all(&init)?;
    export_model(&model.valid(), Task::Rte, &args.data.model, &init)?;

    let tokenizer = BertTokenizer::from_dir(&args.data.model, 128)?;
    let data = Task::Rte.load(&args.data.data_dir, Split::Train, MalformedRows::Error)?;
    let set = TokenizedSet::new(&data, &tokenizer)?;
    let batches: Vec<Vec<usize>> = (0..args.steps)
        .map(|s| (s * args.batch_size..(s + 1) * args.batch_size).collect())
        .collect();
    std::fs::write(
        args.out.join("batches.json"),
        serde_json::to_string(&batches_json(&set, &batches, tokenizer.pad_id()))?,
    )?;

    let total = args.steps;
    let warmup = warmup_steps(0.1, total);
    let mut step = TrainStep::new(
        BertAdamW::<AD>::new(AdamWConfig::default()),
        HashSet::new(),
        1,
    );
    let mut loss_scale = args
        .precision
        .precision
        .scales_loss()
        .then(LossScale::default);
    let mut log = String::new();
    for (update, indices) in batches.iter().enumerate() {
        let batch = set.batch(indices, tokenizer.pad_id(), &DYNAMIC);
        let targets = set.targets::<AD>(indices, 0, &device)?;
        let micro = MicroBatch {
            input: batch.to_input(&device),
            targets,
            rows: None,
        };
        let loss = TrainStep::loss(&model, micro)?;
        let loss_value: f64 = loss.clone().into_scalar().into();
        step.backward(&model, loss, loss_scale.as_ref());
        let factor = linear_warmup_decay(update, warmup, total);
        let rates = StepRates {
            lr: 3e-5 * factor,
            fresh_lr: 3e-5 * factor,
        };
        let done = step.update(model, rates, loss_scale.as_mut())?;
        model = done.model;
        let norm: f64 = done.norm.map_or(f64::NAN, |n| n.into_scalar().into());
        let line = serde_json::json!({"step": update, "loss": loss_value, "grad_norm": norm, "lr": rates.lr});
        log_line(&mut log, line);
    }
    let first = &batches[0];
    let batch0 = set.batch(first, tokenizer.pad_id(), &DYNAMIC);
    let out = model.valid().forward(batch0.to_input(&device))?;
    let targets = set.targets::<backend::Backend>(first, 0, &device)?;
    let final_loss: f64 = model.valid().loss(&out, targets)?.into_scalar().into();
    log_line(
        &mut log,
        serde_json::json!({"final_loss_batch0": final_loss}),
    );
    std::fs::write(args.out.join("sesame.jsonl"), log)?;
    Ok(())
}
