//! `sesame bench`: the time of one full training step (forward, loss, backward, global-norm clipping, AdamW
//! update) or one inference batch, for a model shape, batch size, sequence length, variant and backend, printed
//! as one JSON line that `benches/peers/` can set side by side with PyTorch.
//!
//! Timing: `warmup` steps untimed (kernel compilation, autotune, allocator warm-up), then `repeats` groups of
//! `steps` steps; the device is synchronised only at the two ends of a group, so nothing inside a step waits for
//! the host. The reported time per step is the median over groups of (group time / steps).

use sesame_core::io::CONFIG_FILE;
use sesame_core::memory;
use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::Serialize;
use sesame_core::fused::Precision;
use sesame_core::kernels::KernelCounts;
use sesame_core::ops::host::sync;
use sesame_core::SesameAutodiffBackend;
use sesame_core::{BertConfig, EncoderConfig, ScoreNormalizer, SequenceClassifier, SesameConfig};

use crate::error::SesameError;
use timing::{median, synthetic_input, time_steps, time_training};

mod timing;

/// `config.json` of `answerdotai/ModernBERT-base` (the architecture fields; its tokenizer's ids are not needed).
const MODERNBERT_BASE: &str = r#"{"model_type": "modernbert", "vocab_size": 50368, "hidden_size": 768,
  "intermediate_size": 1152, "num_hidden_layers": 22, "num_attention_heads": 12, "hidden_activation": "gelu",
  "max_position_embeddings": 8192, "norm_eps": 1e-05, "norm_bias": false, "attention_bias": false,
  "mlp_bias": false, "global_attn_every_n_layers": 3, "local_attention": 128, "global_rope_theta": 160000.0,
  "local_rope_theta": 10000.0, "classifier_pooling": "mean", "classifier_activation": "gelu",
  "pad_token_id": 50283}"#;

/// `config.json` of `microsoft/deberta-v3-base`.
const DEBERTA_V3_BASE: &str = r#"{"model_type": "deberta-v2", "vocab_size": 128100, "hidden_size": 768,
  "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12, "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
  "type_vocab_size": 0, "initializer_range": 0.02, "layer_norm_eps": 1e-07, "relative_attention": true,
  "max_relative_positions": -1, "position_buckets": 256, "norm_rel_ebd": "layer_norm", "share_att_key": true,
  "pos_att_type": ["p2c", "c2p"], "position_biased_input": false, "pad_token_id": 0,
  "pooler_hidden_size": 768, "pooler_dropout": 0, "pooler_hidden_act": "gelu"}"#;

/// The encoder shape to time.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelShape {
    /// all-MiniLM-L6-v2: 6 layers × 384, 12 heads, FFN 1536.
    Minilm,
    /// BERT-base: 12 layers × 768, 12 heads, FFN 3072.
    BertBase,
    /// ModernBERT-base: 22 layers × 768, 12 heads, GeGLU FFN 1152, a global layer every third.
    ModernBertBase,
    /// DeBERTa-v3-base: 12 layers × 768, 12 heads, FFN 3072, c2p and p2c over 256 buckets.
    DebertaV3Base,
    /// The `config.json` of a Hugging Face directory (weights are random: time does not depend on them).
    Checkpoint(PathBuf),
}

impl ModelShape {
    /// Parses `minilm`, `bert-base`, `modernbert-base`, `deberta-v3-base` or a directory path.
    pub fn parse(s: &str) -> ModelShape {
        match s {
            "minilm" => ModelShape::Minilm,
            "bert-base" => ModelShape::BertBase,
            "modernbert-base" => ModelShape::ModernBertBase,
            "deberta-v3-base" => ModelShape::DebertaV3Base,
            path => ModelShape::Checkpoint(PathBuf::from(path)),
        }
    }

    pub fn config(&self) -> Result<EncoderConfig, SesameError> {
        Ok(match self {
            ModelShape::Minilm => EncoderConfig::Bert(BertConfig::minilm_l6()),
            ModelShape::BertBase => EncoderConfig::Bert(BertConfig::bert_base()),
            ModelShape::ModernBertBase => EncoderConfig::from_json_str(MODERNBERT_BASE)?,
            ModelShape::DebertaV3Base => EncoderConfig::from_json_str(DEBERTA_V3_BASE)?,
            ModelShape::Checkpoint(dir) => EncoderConfig::from_file(dir.join(CONFIG_FILE))?,
        })
    }

    fn name(&self) -> String {
        match self {
            ModelShape::Minilm => "minilm".into(),
            ModelShape::BertBase => "bert-base".into(),
            ModelShape::ModernBertBase => "modernbert-base".into(),
            ModelShape::DebertaV3Base => "deberta-v3-base".into(),
            ModelShape::Checkpoint(dir) => dir.display().to_string(),
        }
    }
}

/// The model variant to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchVariant {
    /// Plain BERT with a classification head.
    Baseline,
    /// SesameBERT: SE over layers + Gaussian context blur (k = 3, σ = 0.3).
    Sesame,
    /// SSAF: sparsegen-lin attention (λ = −2) instead of softmax.
    Ssaf,
}

impl BenchVariant {
    pub fn config(self, num_labels: usize) -> SesameConfig {
        match self {
            BenchVariant::Baseline => SesameConfig::baseline(num_labels),
            BenchVariant::Sesame => SesameConfig::sesamebert(num_labels),
            BenchVariant::Ssaf => {
                let mut c = SesameConfig::baseline(num_labels);
                c.attention.normalizer = ScoreNormalizer::SparsegenLin { lambda: -2.0 };
                c
            }
        }
    }
}

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchMode {
    /// Forward + loss + backward + clipping + AdamW.
    Train,
    /// Forward only, without autodiff.
    Inference,
}

/// One benchmark.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    pub shape: ModelShape,
    pub batch: usize,
    pub seq_len: usize,
    pub variant: BenchVariant,
    pub mode: BenchMode,
    /// The precision of the products (already the process's, `sesame::backend::set_precision`).
    pub precision: Precision,
    pub warmup: usize,
    pub steps: usize,
    pub repeats: usize,
}

/// The JSON line of `sesame bench`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub tool: &'static str,
    pub backend: String,
    pub precision: Precision,
    pub model: String,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub variant: BenchVariant,
    pub mode: BenchMode,
    pub batch: usize,
    pub seq_len: usize,
    pub warmup: usize,
    pub steps: usize,
    pub repeats: usize,
    /// Median over repeats of the mean time per step.
    pub ms_per_step: f64,
    pub ms_per_step_min: f64,
    pub ms_per_step_max: f64,
    pub examples_per_second: f64,
    /// Matmul FLOPs of one step, counted from the shapes (training: 3 × forward).
    pub gflop_per_step: f64,
    pub achieved_gflops: f64,
    /// The backend's own rate on one `[B·n, d] × [d, d_ff]` f32 product of this shape, measured in this run.
    pub matmul_gflops: f64,
    /// achieved_gflops / matmul_gflops.
    pub fraction_of_matmul_rate: f64,
    /// Peak resident memory of the process (CPU backends, from /proc/self/status); `null` on GPU backends,
    /// whose peak the GPU runner script samples with nvidia-smi instead.
    pub peak_host_memory_bytes: Option<u64>,
    /// Seconds from the model's creation to the end of the warm-up steps (kernel compilation and autotuning
    /// on a GPU backend).
    pub startup_seconds: f64,
    /// The process's kernel work by the end of the measurement (`null` on the CPU backends).
    pub kernels: Option<KernelCounts>,
}

/// Matmul FLOPs of one forward pass of the encoder (projections, FFN, attention products, DeBERTa's relative
/// terms, blur). Every layer's attention is counted over all `n × n` pairs: ModernBERT's sliding-window layers
/// compute them too and mask them (eager attention, as `transformers` computes it).
pub fn forward_flops(config: &EncoderConfig, variant: BenchVariant, b: usize, n: usize) -> f64 {
    let (t, h, i) = (
        (b * n) as f64,
        config.hidden_size() as f64,
        config.intermediate_size() as f64,
    );
    let n = n as f64;
    let b = b as f64;
    let ffn = match config {
        // GeGLU: `Wi` to 2 × intermediate, `Wo` back.
        EncoderConfig::ModernBert(_) => 3.0 * h * i,
        _ => 2.0 * h * i,
    };
    let relative = match config {
        // c2p and p2c: queries and keys against the 2k relative rows, and those rows' two projections.
        EncoderConfig::DebertaV2(c) => {
            let rows = 2.0 * c.attention_span() as f64;
            2.0 * 2.0 * b * n * rows * h + 2.0 * 2.0 * rows * h * h
        }
        _ => 0.0,
    };
    let per_layer = 2.0 * t * (4.0 * h * h + ffn) + 4.0 * b * n * n * h + relative;
    let blur = match variant {
        // One banded [n, n] × [n, d] product per layer.
        BenchVariant::Sesame => 2.0 * b * n * n * h,
        _ => 0.0,
    };
    config.num_hidden_layers() as f64 * (per_layer + blur)
}

/// Peak resident set size of this process (Linux), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// GFLOP/s of `[m, k] × [k, n]` on `B`, median of `reps` timed products after one untimed.
pub fn matmul_rate<B: Backend>(
    m: usize,
    k: usize,
    n: usize,
    reps: usize,
    device: &B::Device,
) -> Result<f64, SesameError> {
    let a = Tensor::<B, 2>::random(
        [m, k],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        device,
    );
    let w = Tensor::<B, 2>::random(
        [k, n],
        burn::tensor::Distribution::Uniform(-1.0, 1.0),
        device,
    );
    let _ = a.clone().matmul(w.clone());
    sync::<B>(device)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t0 = Instant::now();
        let out = a.clone().matmul(w.clone());
        sync::<B>(device)?;
        times.push(t0.elapsed().as_secs_f64());
        drop(out);
    }
    Ok(2.0 * (m * k * n) as f64 / median(&mut times) / 1e9)
}

impl BenchSpec {
    /// Refuses sizes of 0 and sequences longer than the model's positions.
    fn check(&self, config: &EncoderConfig) -> Result<(), SesameError> {
        if let Some(positions) = config
            .max_position_embeddings()
            .filter(|&p| self.seq_len > p)
        {
            return Err(SesameError::Input {
                path: PathBuf::from("--seq-len"),
                message: format!(
                    "{} is longer than the model's {positions} positions",
                    self.seq_len
                ),
            });
        }
        if self.batch == 0 || self.seq_len == 0 || self.steps == 0 || self.repeats == 0 {
            return Err(SesameError::Input {
                path: PathBuf::from("sesame bench"),
                message: "--batch, --seq-len, --steps and --repeats must be ≥ 1".into(),
            });
        }
        Ok(())
    }
}

/// Runs one benchmark on the autodiff backend `B` (training) or its inner backend (inference).
pub fn run_bench<B: SesameAutodiffBackend>(
    spec: &BenchSpec,
    device: &B::Device,
) -> Result<BenchResult, SesameError> {
    let mut config = spec.shape.config()?;
    spec.check(&config)?;
    // The synthetic ids start at 1000.
    if let EncoderConfig::Bert(c) = &mut config {
        c.vocab_size = c.vocab_size.max(2000);
    }
    // A config alone proves nothing about its sizes: estimate and refuse what cannot fit before building.
    let size = config.model_size(2);
    let needed = match spec.mode {
        BenchMode::Train => size.training_bytes(spec.batch, spec.seq_len),
        BenchMode::Inference => size.weight_bytes(),
    };
    memory::require(needed, &format!("benchmarking {}", spec.shape.name()))?;
    B::seed(device, 0);
    let started = Instant::now();
    let (b, n) = (spec.batch, spec.seq_len);
    let (startup_seconds, mut per_step) = match spec.mode {
        BenchMode::Train => time_training::<B>(spec, &config, device, started)?,
        BenchMode::Inference => {
            let model =
                SequenceClassifier::<B>::new(&config, &spec.variant.config(2), device)?.valid();
            time_steps::<B>(spec, device, started, || {
                let input = synthetic_input::<B::InnerBackend>(b, n, config.vocab_size(), device);
                drop(model.forward(input)?);
                Ok(())
            })?
        }
    };
    let lo = per_step.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per_step.iter().copied().fold(0.0, f64::max);
    let seconds = median(&mut per_step);
    let forward = forward_flops(&config, spec.variant, b, n);
    let flops = match spec.mode {
        BenchMode::Train => 3.0 * forward,
        BenchMode::Inference => forward,
    };
    let matmul_gflops = matmul_rate::<B::InnerBackend>(
        b * n,
        config.hidden_size(),
        config.intermediate_size(),
        5,
        device,
    )?;
    let achieved = flops / seconds / 1e9;
    let on_cpu = B::ON_HOST;
    Ok(BenchResult {
        tool: "sesame",
        backend: B::NAME.to_string(),
        precision: spec.precision,
        model: spec.shape.name(),
        layers: config.num_hidden_layers(),
        hidden: config.hidden_size(),
        heads: config.num_attention_heads(),
        intermediate: config.intermediate_size(),
        variant: spec.variant,
        mode: spec.mode,
        batch: b,
        seq_len: n,
        warmup: spec.warmup,
        steps: spec.steps,
        repeats: spec.repeats,
        ms_per_step: 1e3 * seconds,
        ms_per_step_min: 1e3 * lo,
        ms_per_step_max: 1e3 * hi,
        examples_per_second: b as f64 / seconds,
        gflop_per_step: flops / 1e9,
        achieved_gflops: achieved,
        matmul_gflops,
        fraction_of_matmul_rate: achieved / matmul_gflops,
        peak_host_memory_bytes: if on_cpu { peak_rss_bytes() } else { None },
        startup_seconds,
        kernels: sesame_core::kernels::counts(),
    })
}
