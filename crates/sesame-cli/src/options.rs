//! Command-line options shared by `sesame` subcommands and the examples: model variant flags and the
//! training recipe, named after `run_glue.py` where it has a name.
//!
//! Long: it is the flags themselves, each with the one-line help `--help` prints; the logic is a few short
//! `resolve` functions.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use sesame_core::fused::Precision;
use sesame_core::{
    Aggregation, BlurBoundary, BlurConfig, BlurTarget, GuidingConfig, LocalnessConfig,
    MissingWeights, Preset, ScoreNormalizer, SesameConfig, SqueezeMode,
};
use sesame_train::optim::AdamWConfig;
use sesame_train::{SavePolicy, Start, TrainConfig};

use crate::error::SesameError;

/// Parses a preset name for clap (`baseline`, `sesamebert`, `se`, `blur`, `ssaf`).
pub fn parse_preset(s: &str) -> Result<Preset, String> {
    Preset::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
        format!("unknown variant `{s}` (one of {})", names.join(", "))
    })
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlurOn {
    Context,
    Value,
    Off,
}

/// `--aggregation`'s parser: the names of `Aggregation::NAMED` (listed in `--help`).
fn aggregation_parser() -> impl clap::builder::TypedValueParser<Value = Aggregation> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Aggregation::NAMED.map(|(name, _)| name)).try_map(
        |name: String| {
            Aggregation::parse(&name).ok_or_else(|| format!("unknown aggregation `{name}`"))
        },
    )
}

/// Flags that choose the model variant.
#[derive(Args, Debug, Clone)]
pub struct VariantArgs {
    /// Starting point: baseline, sesamebert, se, blur or ssaf (`SesameConfig`'s presets).
    #[arg(long, value_parser = parse_preset, default_value = "baseline")]
    pub variant: Preset,
    /// A `SesameConfig` JSON file (see docs/methods.md); replaces --variant, refined by the flags below.
    #[arg(long)]
    pub model_config: Option<PathBuf>,
    /// Gaussian blur target (overrides the preset).
    #[arg(long, value_enum)]
    pub blur: Option<BlurOn>,
    /// Standard deviation σ of the Gaussian blur, in positions (overrides the preset; the paper's 0.3 on RTE).
    #[arg(long)]
    pub blur_sigma: Option<f64>,
    /// Width k of the blur kernel, odd (overrides the preset; the paper's 3).
    #[arg(long)]
    pub blur_kernel: Option<usize>,
    /// Mirror the blur at the last real token instead of the padded end.
    #[arg(long)]
    pub blur_true_end: bool,
    /// Layer aggregation (overrides the preset).
    #[arg(long, value_parser = aggregation_parser())]
    pub aggregation: Option<Aggregation>,
    /// Use the 1-based layer k as sequence output.
    #[arg(long, conflicts_with = "aggregation")]
    pub aggregation_layer: Option<usize>,
    /// SE gate on/off (overrides the preset).
    #[arg(long)]
    pub se: Option<bool>,
    /// SE squeeze over all padded positions (the reference) instead of real tokens.
    #[arg(long)]
    pub se_unmasked: bool,
    /// SSAF: sparsegen-lin attention with this λ (< 1; 0 is sparsemax).
    #[arg(long, allow_hyphen_values = true)]
    pub sparsegen_lambda: Option<f64>,
    /// Attention guiding: MDG weight (0.001 in the paper).
    #[arg(long)]
    pub mdg_weight: Option<f64>,
    /// Attention guiding: PDG weight (0.001 in the paper).
    #[arg(long)]
    pub pdg_weight: Option<f64>,
    /// Localness bias on these 0-based layers ("all" or e.g. "0,1,2").
    #[arg(long)]
    pub localness: Option<String>,
}

impl VariantArgs {
    /// The resolved model config for a task with `num_labels` outputs: `--model-config` or the preset, with
    /// the flags that change it applied.
    pub fn resolve(&self, num_labels: usize) -> Result<SesameConfig, SesameError> {
        let mut config = match &self.model_config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| SesameError::Input {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                serde_json::from_str::<SesameConfig>(&text).map_err(|e| SesameError::Input {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => SesameConfig::preset(self.variant, num_labels),
        };
        config.num_labels = num_labels;
        self.apply_blur(&mut config);
        self.apply_layers(&mut config);
        if let Some(lambda) = self.sparsegen_lambda {
            config.attention.normalizer = ScoreNormalizer::SparsegenLin { lambda };
        }
        self.apply_guiding(&mut config);
        if let Some(layers) = &self.localness {
            config.attention.localness = Some(LocalnessConfig {
                layers: localness_layers(layers)?,
                ..LocalnessConfig::default()
            });
        }
        Ok(config)
    }

    /// `--blur`, `--blur-sigma`, `--blur-kernel`, `--blur-true-end`.
    fn apply_blur(&self, config: &mut SesameConfig) {
        if let Some(on) = self.blur {
            config.attention.blur = match on {
                BlurOn::Off => None,
                BlurOn::Context | BlurOn::Value => Some(BlurConfig {
                    target: if on == BlurOn::Context {
                        BlurTarget::Context
                    } else {
                        BlurTarget::Value
                    },
                    ..config.attention.blur.clone().unwrap_or_default()
                }),
            };
        }
        if let Some(blur) = config.attention.blur.as_mut() {
            if let Some(s) = self.blur_sigma {
                blur.sigma = s;
            }
            if let Some(k) = self.blur_kernel {
                blur.kernel_size = k;
            }
            if self.blur_true_end {
                blur.boundary = BlurBoundary::TrueEnd;
            }
        }
    }

    /// `--se`, `--se-unmasked`, `--aggregation`, `--aggregation-layer`.
    fn apply_layers(&self, config: &mut SesameConfig) {
        if let Some(on) = self.se {
            config.layers.se = on.then(|| config.layers.se.clone().unwrap_or_default());
        }
        if let Some(se) = config.layers.se.as_mut() {
            if self.se_unmasked {
                se.squeeze = SqueezeMode::UnmaskedPadded;
            }
        }
        if let Some(a) = self.aggregation {
            config.layers.aggregation = a;
        }
        if let Some(k) = self.aggregation_layer {
            config.layers.aggregation = Aggregation::Index(k);
        }
    }

    /// `--mdg-weight`, `--pdg-weight` (the other weight 0 where guiding was off).
    fn apply_guiding(&self, config: &mut SesameConfig) {
        if self.mdg_weight.is_some() || self.pdg_weight.is_some() {
            let g = config.guiding.get_or_insert_with(|| GuidingConfig {
                mdg_weight: 0.0,
                pdg_weight: 0.0,
                ..GuidingConfig::default()
            });
            if let Some(w) = self.mdg_weight {
                g.mdg_weight = w;
            }
            if let Some(w) = self.pdg_weight {
                g.pdg_weight = w;
            }
        }
    }
}

/// `--localness`: `all` (`None`) or comma-separated layer numbers.
fn localness_layers(layers: &str) -> Result<Option<Vec<usize>>, SesameError> {
    if layers == "all" {
        return Ok(None);
    }
    layers
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|e| SesameError::Input {
            path: PathBuf::from("--localness"),
            message: format!("expected \"all\" or layer numbers like 0,1,2: {e}"),
        })
}

/// What happens to the output directory: resume, overwrite, checkpoints (`transformers`' Trainer names).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Continue from the run directory's latest checkpoint, at any step (an error when there is none).
    #[arg(long, conflicts_with_all = ["resume_if_possible", "overwrite_output_dir"])]
    pub resume: bool,
    /// Continue from the latest checkpoint when there is one, else start anew (for scripts that rerun).
    #[arg(long, conflicts_with = "overwrite_output_dir")]
    pub resume_if_possible: bool,
    /// Replace a run that is already in the output directory (otherwise that is refused).
    #[arg(long)]
    pub overwrite_output_dir: bool,
    /// Also write a checkpoint every N optimizer updates (one is always written at each epoch end); 0: at
    /// epoch ends only.
    #[arg(long, default_value_t = SavePolicy::default().save_steps.unwrap_or(0))]
    pub save_steps: usize,
    /// Keep the newest K checkpoints.
    #[arg(long, default_value_t = SavePolicy::default().save_total_limit)]
    pub save_total_limit: usize,
    #[command(flatten)]
    pub weights: WeightsArgs,
}

impl RunArgs {
    pub fn start(&self) -> Start {
        if self.overwrite_output_dir {
            Start::Overwrite
        } else if self.resume {
            Start::Resume
        } else if self.resume_if_possible {
            Start::ResumeIfPossible
        } else {
            Start::New
        }
    }

    pub fn save_policy(&self) -> SavePolicy {
        SavePolicy {
            save_steps: (self.save_steps > 0).then_some(self.save_steps),
            save_total_limit: self.save_total_limit,
        }
    }
}

/// Whether a checkpoint may lack pretrained parameters.
#[derive(Args, Debug, Clone)]
pub struct WeightsArgs {
    /// Accept a checkpoint that lacks pretrained parameters of the model: they start from random values.
    /// Without it, such a checkpoint (usually another architecture's) is refused with the list of what is
    /// missing.
    #[arg(long)]
    pub allow_missing_weights: bool,
}

impl WeightsArgs {
    pub fn policy(&self) -> MissingWeights {
        if self.allow_missing_weights {
            MissingWeights::Allow
        } else {
            MissingWeights::Refuse
        }
    }
}

/// The recipe flags; their defaults are `TrainConfig::default()` (BERT's recipe), stated once there.
#[derive(Args, Debug, Clone)]
pub struct RecipeArgs {
    /// Peak learning rate (linear warm-up, then linear decay to 0).
    #[arg(long, default_value_t = defaults().learning_rate)]
    pub learning_rate: f64,
    /// Peak learning rate of the fresh parameters (head, gate); default: --learning-rate.
    #[arg(long)]
    pub head_learning_rate: Option<f64>,
    /// Passes over the training set.
    #[arg(long, default_value_t = defaults().epochs)]
    pub epochs: usize,
    /// Examples per optimizer update (split into --gradient-accumulation micro-batches).
    #[arg(long, default_value_t = defaults().batch_size)]
    pub batch_size: usize,
    /// Micro-batches summed into each update (the same update in less memory).
    #[arg(long, default_value_t = defaults().gradient_accumulation)]
    pub gradient_accumulation: usize,
    /// Longest encoding in tokens; longer pairs are truncated, as `run_glue.py`'s `--max_seq_length`.
    #[arg(long, default_value_t = defaults().max_seq_length)]
    pub max_seq_length: usize,
    /// Fraction of the updates spent warming the learning rate up from 0.
    #[arg(long, default_value_t = defaults().warmup_ratio)]
    pub warmup_ratio: f64,
    /// AdamW's decoupled weight decay (not on biases and LayerNorm weights).
    #[arg(long, default_value_t = defaults().optimizer.weight_decay)]
    pub weight_decay: f64,
    /// Clip the gradients' global norm to this (0: no clipping).
    #[arg(long, default_value_t = defaults().optimizer.max_grad_norm.unwrap_or(0.0))]
    pub max_grad_norm: f64,
    /// Seed of the fresh parameters' initialisation, the data order and dropout.
    #[arg(long, default_value_t = defaults().seed)]
    pub seed: u64,
    /// Also evaluate every N optimizer updates.
    #[arg(long)]
    pub eval_steps: Option<usize>,
    /// Log loss, learning rate, gradient norm and throughput every N updates.
    #[arg(long, default_value_t = defaults().logging_steps)]
    pub logging_steps: usize,
    /// Batch examples of similar length together.
    #[arg(long)]
    pub bucket_by_length: bool,
    #[command(flatten)]
    pub shapes: ShapeArgs,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Train on the first N examples only (quick runs).
    #[arg(long)]
    pub max_train_samples: Option<usize>,
    /// Stop when the dev metric has not improved for N evaluations in a row (the best model is kept).
    #[arg(long)]
    pub early_stopping_patience: Option<usize>,
}

/// Parses a precision name for clap (`f32`, `tf32`, `bf16`, `f16`).
pub fn parse_precision(s: &str) -> Result<Precision, String> {
    Precision::parse(s).ok_or_else(|| format!("unknown precision `{s}` (f32, tf32, bf16 or f16)"))
}

/// The precision of the model's matrix products.
#[derive(Args, Debug, Clone)]
pub struct PrecisionArgs {
    /// Precision of the matrix products on GPU backends: f32 (full f32, as transformers' Trainer by default),
    /// tf32 (CUDA tensor cores, 10-bit mantissa operands), bf16 or f16 (mixed: products in half precision,
    /// weights, optimizer and everything else in f32; f16 also scales the loss). The CPU backends compute in
    /// f32 only.
    #[arg(long, value_parser = parse_precision, default_value_t = Precision::default())]
    pub precision: Precision,
}

impl PrecisionArgs {
    /// Makes it the process's precision, or says which ones the backend can compute on `device`.
    pub fn apply(&self, device: &sesame::backend::Device) -> Result<(), SesameError> {
        Ok(sesame::backend::set_precision(self.precision, device)?)
    }
}

/// How batches are shaped: a shape plan on the GPU backends, dynamic padding on the CPU.
#[derive(Args, Debug, Clone)]
pub struct ShapeArgs {
    /// Pad every batch to one of at most N lengths chosen from the data, with a fixed number of rows, and run
    /// each shape once before training, so that GPU kernels are compiled up front (0: pad each batch to its
    /// longest example). Default: 4 on GPU backends, 0 on the CPU.
    #[arg(long, default_value_t = sesame::backend::LENGTH_BUCKETS)]
    pub length_buckets: usize,
    /// With --length-buckets 0, round each batch's length up to a multiple of this. Default: 32 on GPU
    /// backends, 1 on the CPU.
    #[arg(long, default_value_t = sesame::backend::PAD_TO_MULTIPLE)]
    pub pad_to_multiple_of: usize,
}

impl ShapeArgs {
    /// The padding of batches of `rows` over examples of `lengths` for a model, as these flags say.
    pub fn padding(
        &self,
        lengths: &[usize],
        rows: usize,
        max_len: usize,
        model: &sesame_core::EncoderConfig,
        num_labels: usize,
    ) -> sesame_train::batching::Padding {
        use sesame_train::batching::Padding;
        if self.length_buckets == 0 {
            return Padding::Longest {
                multiple: self.pad_to_multiple_of,
            };
        }
        Padding::Plan(sesame_train::shapes::ShapePlan::for_model(
            lengths,
            rows,
            self.length_buckets,
            max_len,
            model,
            num_labels,
        ))
    }
}

/// The recipe's defaults, for the flags' `default_value_t`.
fn defaults() -> TrainConfig {
    TrainConfig::default()
}

impl RecipeArgs {
    pub fn resolve(&self) -> TrainConfig {
        let defaults = defaults();
        TrainConfig {
            learning_rate: self.learning_rate,
            head_learning_rate: self.head_learning_rate,
            epochs: self.epochs,
            batch_size: self.batch_size,
            gradient_accumulation: self.gradient_accumulation,
            max_seq_length: self.max_seq_length,
            warmup_ratio: self.warmup_ratio,
            optimizer: AdamWConfig {
                weight_decay: self.weight_decay,
                max_grad_norm: (self.max_grad_norm > 0.0).then_some(self.max_grad_norm),
                ..defaults.optimizer
            },
            seed: self.seed,
            eval_steps: self.eval_steps,
            logging_steps: self.logging_steps,
            bucket_by_length: self.bucket_by_length,
            pad_to_multiple_of: self.shapes.pad_to_multiple_of,
            length_buckets: self.shapes.length_buckets,
            precision: self.precision.precision,
            max_train_samples: self.max_train_samples,
            early_stopping_patience: self.early_stopping_patience,
            ..defaults
        }
    }
}
