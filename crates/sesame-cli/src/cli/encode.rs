//! `sesame encode`: the feature extractor.

use sesame_core::io::weights::param_table;
use sesame_core::io::CONFIG_FILE;
use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sesame::backend::{self, Backend};
use sesame::{
    AttentionConfig, BertTokenizer, BlurBoundary, BlurConfig, BlurTarget, CoreError, Encoder,
    LoadReport, SequenceClassifier, SesameConfig, TrainError,
};
use sesame_cli::encode::{encode_texts, read_texts, write_encoding};
use sesame_cli::options::{PrecisionArgs, WeightsArgs};
use sesame_cli::SesameError;

use sesame_cli::progress;

#[derive(Args, Debug)]
pub struct EncodeArgs {
    /// Hugging Face model directory (config.json, model.safetensors, tokenizer.json or vocab.txt), or a Hub id.
    #[arg(long, env = "SESAME_MODEL")]
    model: String,
    /// TSV with a header and one or two text columns (sentence1[<TAB>sentence2]).
    #[arg(long)]
    input: PathBuf,
    /// Text columns to encode, by header name, when the file has more than the text (e.g.
    /// `sentence1,sentence2` for GLUE's RTE).
    #[arg(long, value_delimiter = ',', num_args = 1..=2)]
    text_columns: Option<Vec<String>>,
    /// Output safetensors file.
    #[arg(long)]
    output: PathBuf,
    /// Maximum tokens per row, [CLS] and [SEP] included (longest_first truncation).
    #[arg(long, default_value_t = 128)]
    max_len: usize,
    /// Rows per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[command(flatten)]
    weights: WeightsArgs,
    #[command(flatten)]
    precision: PrecisionArgs,
    /// SesameBERT Gaussian blur in every layer, on the attention context or on the values.
    #[arg(long, value_enum)]
    blur: Option<BlurArg>,
    /// Blur standard deviation σ.
    #[arg(long, default_value_t = 0.3)]
    blur_sigma: f64,
    /// Blur kernel size k (odd).
    #[arg(long, default_value_t = 3)]
    blur_kernel: usize,
    /// Blur boundary: the reference's mirror at the padded end, or at the last real token.
    #[arg(long, value_enum, default_value_t = BoundaryArg::PaddedEnd)]
    blur_boundary: BoundaryArg,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum BlurArg {
    Context,
    Value,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum BoundaryArg {
    PaddedEnd,
    TrueEnd,
}

impl EncodeArgs {
    fn attention(&self) -> AttentionConfig {
        AttentionConfig {
            blur: self.blur.map(|target| BlurConfig {
                target: match target {
                    BlurArg::Context => BlurTarget::Context,
                    BlurArg::Value => BlurTarget::Value,
                },
                kernel_size: self.blur_kernel,
                sigma: self.blur_sigma,
                boundary: match self.blur_boundary {
                    BoundaryArg::PaddedEnd => BlurBoundary::PaddedEnd,
                    BoundaryArg::TrueEnd => BlurBoundary::TrueEnd,
                },
                layers: None,
            }),
            ..AttentionConfig::default()
        }
    }
}

pub fn run(args: EncodeArgs) -> Result<(), SesameError> {
    if args.batch_size == 0 {
        return Err(SesameError::Input {
            path: args.input.clone(),
            message: "--batch-size must be at least 1".into(),
        });
    }
    let texts = read_texts(&args.input, args.text_columns.as_deref())?;
    let model_dir = sesame_cli::hub::resolve_model(&args.model)?;
    let device = sesame_cli::device()?;
    args.precision.apply(&device)?;
    let attention = args.attention();
    let tokenizer = BertTokenizer::from_dir(&model_dir, args.max_len)?;
    let (model, report) = Encoder::<Backend>::from_pretrained(
        &model_dir,
        &attention,
        args.weights.policy(),
        &device,
    )?;
    let classifier = load_head(&model_dir, &device)?;
    print_load_notes(&report, &model, classifier.as_ref());
    let bar = progress::bar(texts.len() as u64, "rows");
    let encoding = encode_texts(
        &model,
        classifier.as_ref(),
        &tokenizer,
        &texts,
        args.batch_size,
        &device,
        |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();

    let metadata = HashMap::from([
        ("model".to_string(), model_dir.display().to_string()),
        ("input".to_string(), args.input.display().to_string()),
        ("max_len".to_string(), args.max_len.to_string()),
        ("backend".to_string(), backend::NAME.to_string()),
        (
            "precision".to_string(),
            args.precision.precision.to_string(),
        ),
        ("attention".to_string(), serde_json::to_string(&attention)?),
    ]);
    write_encoding(&encoding, metadata, &args.output)?;
    eprintln!(
        "wrote {} rows × {} tokens, {} hidden states, to {}",
        encoding.batch.batch_size,
        encoding.batch.seq_len,
        encoding.hidden_states.len(),
        args.output.display()
    );
    Ok(())
}

/// What the load found that the user should know: pretrained parameters that start random, and checkpoint
/// tensors that neither the encoder nor the classification head (when one loads) uses.
fn print_load_notes(
    report: &LoadReport,
    model: &Encoder<Backend>,
    classifier: Option<&SequenceClassifier<Backend>>,
) {
    if !report.missing.is_empty() {
        eprintln!(
            "warning: {} parameter(s) missing from the checkpoint start from random values: {}",
            report.missing.len(),
            report.missing.join(", ")
        );
    }
    // The encoder's load leaves the head's tensors aside; they are unused only when no head loads them.
    let head_keys: Vec<String> = classifier.map_or_else(Vec::new, |c| {
        param_table(c, c.family())
            .into_iter()
            .map(|p| p.name)
            .collect()
    });
    let unused: Vec<&String> = report
        .unexpected
        .iter()
        .filter(|k| !head_keys.contains(k))
        .collect();
    if !unused.is_empty() {
        eprintln!(
            "note: {} checkpoint tensor(s) unused by {}{}: {}",
            unused.len(),
            model.family().model_class(),
            if classifier.is_some() {
                " and its classification head"
            } else {
                ""
            },
            unused
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// The checkpoint's classifier, when `config.json` names a `*ForSequenceClassification` architecture: a sesame
/// export with its variant, or the plain classifier of another tool with `id2label`'s label count. Every
/// parameter, head included, must be in the directory.
fn load_head(
    dir: &std::path::Path,
    device: &backend::Device,
) -> Result<Option<SequenceClassifier<Backend>>, SesameError> {
    let config_path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&config_path).map_err(|e| SesameError::Input {
        path: config_path.clone(),
        message: e.to_string(),
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let Some(labels) = sesame_train::export::classifier_labels(&value) else {
        return Ok(None);
    };
    if dir.join("sesame.json").is_file() {
        let (model, _) = sesame_train::export::load_exported::<Backend>(dir, device)?;
        return Ok(Some(model));
    }
    // The encoder's own load has already applied the missing-weights policy; a classifier that does not load
    // whole (a partial load the user allowed) gives no logits rather than logits of a random head.
    match sesame_train::export::load_classifier(dir, &SesameConfig::baseline(labels), device) {
        Ok(model) => Ok(Some(model)),
        Err(e @ TrainError::Core(CoreError::MissingTensors { .. })) => {
            eprintln!("note: no logits written, the classification head does not load: {e}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
