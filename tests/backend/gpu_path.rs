//! The backend the cargo features choose (`sesame::backend`), checked end to end: parity with `transformers`, a
//! short training run against the CPU backend, determinism and resume, export and reload (the method components'
//! gradients are in `tests/gpu_gradients.rs`). In the default build the chosen backend is burn's flex CPU backend,
//! compared here with burn-ndarray (the CPU backend of the other tests); CI also runs this file with `--features
//! wgpu` on a software Vulkan driver (Mesa's lavapipe), so the GPU path's kernels, fusion, autotuning and
//! device-side random run in CI. Every comparison is with `transformers`' goldens, with the CPU backend in the same
//! process, or with the chosen backend's own earlier run.
//!
//! Tolerances: the goldens at 1e-5 at real tokens (f32 products: `--precision f32`), 5e-3 at padding, 1e-5 for
//! attention probabilities. The training run against the CPU backend (six updates of a tiny SesameBERT with dropout
//! off): 1e-4 relative per update for the loss, 1e-3 for the gradient norm (the CPU backend's own gradients
//! carry burn-ndarray's reciprocal estimate). With dropout on: the same seed twice gives identical updates and
//! logits; resuming from update 2 gives every later update within 1e-6 relative and the final logits within
//! 1e-6.
//! On CUDA, f32 products run on sesame's full-f32 kernels (burn's own round to TF32 on Ampere and later GPUs,
//! which these bounds do not allow for); `the_full_f32_products_match_transformers` runs them on any GPU backend.
//!
//! Long: the whole GPU path is one subject; each test is a stage of it (parity, training, resume, export,
//! shape plan, precision).

use std::path::Path;

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::tensor::backend::Backend as BurnBackend;
use sesame::backend::{self, AutodiffBackend, Backend, Precision};
use sesame::core::ops::host::to_host;
use sesame::core::{
    AttentionConfig, BertInput, BertModel, BertModelOutput, BlurTarget, MissingWeights,
    SequenceClassifier, SesameConfig,
};
use sesame::train::batching::Padding;
use sesame::train::export::{export_model, load_exported};
use sesame::train::run::RunDir;
use sesame::train::{
    predict, train, MetricsLine, RunControl, SavePolicy, Silent, Task, TrainConfig, TrainInputs,
    TrainOutcome,
};
use sesame_testkit::{
    copy_dir, golden_blur, masked_max_diff, max_diff, minilm_dir, random_streams, temp_dir,
    tiny_config, toy_set, Golden,
};

type Cpu = NdArray<f32>;

fn device() -> backend::Device {
    backend::open().expect("the chosen backend opens")
}

fn minilm(attention: &AttentionConfig) -> BertModel<Backend> {
    let (model, report) = BertModel::<Backend>::from_pretrained(
        minilm_dir(),
        attention,
        MissingWeights::Refuse,
        &device(),
    )
    .expect("checkpoint loads");
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    model
}

/// How many of the goldens' eight examples the chosen backend is checked on: the first three (two padded, one of
/// the full 128 tokens). The CPU backend's parity tests (`crates/sesame-core/tests/core/parity.rs`) check all
/// eight; on a software GPU driver every example costs seconds of each forward pass.
const EXAMPLES: usize = 3;

/// The golden input's first [`EXAMPLES`] rows on the chosen backend.
fn golden_input(golden: &Golden) -> BertInput<Backend> {
    let input = golden.input_on(&device());
    BertInput {
        input_ids: input.input_ids.narrow(0, 0, EXAMPLES),
        token_type_ids: input.token_type_ids.narrow(0, 0, EXAMPLES),
        attention_mask: input.attention_mask.narrow(0, 0, EXAMPLES),
    }
}

/// A golden tensor `[8, …]` (or its attention mask) cut to its first [`EXAMPLES`] examples: `(shape, values)`.
fn first_examples(tensor: (Vec<usize>, Vec<f32>)) -> (Vec<usize>, Vec<f32>) {
    let (shape, mut values) = tensor;
    values.truncate(values.len() / shape[0] * EXAMPLES);
    (shape, values)
}

/// The golden attention mask's first [`EXAMPLES`] rows.
fn golden_mask(golden: &Golden) -> Vec<i64> {
    let (shape, mut mask) = golden.i64("attention_mask");
    mask.truncate(shape[1] * EXAMPLES);
    mask
}

/// Hidden states `layers` of `model` on the golden input against `golden[prefix + i]`; returns the output for
/// further checks.
fn check_hidden_states(
    model: &BertModel<Backend>,
    golden: &Golden,
    prefix: &str,
    layers: &[usize],
) -> BertModelOutput<Backend> {
    let mask = golden_mask(golden);
    let out = model.forward(golden_input(golden), false).expect("forward");
    for &i in layers {
        let (shape, want) = first_examples(golden.f32(&format!("{prefix}{i}")));
        let got = to_host(out.hidden_states[i].clone()).expect("host copy");
        let (real, pad) = masked_max_diff(&got, &want, &mask, shape[2]);
        eprintln!(
            "{} {prefix}{i}: max diff real tokens {real:.3e}, padding {pad:.3e}",
            backend::NAME
        );
        assert!(real <= 1e-5, "{prefix}{i}: real-token diff {real}");
        assert!(pad <= 5e-3, "{prefix}{i}: padding diff {pad}");
    }
    out
}

#[test]
fn minilm_matches_transformers_on_the_chosen_backend() {
    let _streams = random_streams();
    let golden = Golden::open("minilm_public.safetensors");
    let variants = Golden::open("minilm_public_variants.safetensors");
    let model = minilm(&AttentionConfig::default());
    let out = check_hidden_states(&model, &golden, "hidden_states.", &[0, 1, 2, 3, 4, 5, 6]);
    let (_, want) = first_examples(golden.f32("pooler_output"));
    let pooler = to_host(out.pooler_output.expect("BERT has a pooler")).expect("host");
    let diff = max_diff(&pooler, &want);
    eprintln!("{} pooler_output: max diff {diff:.3e}", backend::NAME);
    assert!(diff <= 1e-4, "pooler diff {diff}");

    let out = model
        .forward(golden_input(&variants), true)
        .expect("forward");
    let attentions = out.attentions.expect("attentions requested");
    for (layer, examples) in [(0usize, 2usize), (5, 1)] {
        let (_, want) = variants.f32(&format!("attentions.{layer}"));
        let got = to_host(attentions[layer].clone().narrow(0, 0, examples)).expect("host");
        let diff = max_diff(&got, &want);
        eprintln!("{} attentions.{layer}: max diff {diff:.3e}", backend::NAME);
        assert!(diff <= 1e-5, "attentions.{layer} diff {diff}");
    }

    for (target, name) in [
        (BlurTarget::Context, "blur_context_k3_s0.5"),
        (BlurTarget::Value, "blur_value_k3_s0.5"),
    ] {
        let blurred = minilm(&golden_blur(target));
        check_hidden_states(
            &blurred,
            &variants,
            &format!("{name}.hidden_states."),
            &[3, 6],
        );
    }
}

/// The recipe of [`short_run`]: 2 epochs of 3 updates of 8 toy examples, no warm-up, a log line per update.
fn short_recipe() -> TrainConfig {
    TrainConfig {
        learning_rate: 2e-3,
        epochs: 2,
        batch_size: 8,
        warmup_ratio: 0.0,
        logging_steps: 1,
        ..TrainConfig::default()
    }
}

/// Trains `start` (an exported model) on the toy set on backend `B` into `run` (6 updates, a checkpoint every 2);
/// returns the loss and gradient norm of every update and the final model.
fn short_run<B: sesame_core::SesameAutodiffBackend>(
    start: &Path,
    run: &RunDir,
    resume: bool,
    device: &B::Device,
) -> (Vec<(f64, f64)>, SequenceClassifier<B::InnerBackend>) {
    let (updates, outcome) = run_recipe::<B>(start, run, resume, &short_recipe(), device);
    (updates, outcome.model.valid())
}

/// [`short_run`] with another recipe; returns the whole outcome.
fn run_recipe<B: sesame_core::SesameAutodiffBackend>(
    start: &Path,
    run: &RunDir,
    resume: bool,
    config: &TrainConfig,
    device: &B::Device,
) -> (Vec<(f64, f64)>, TrainOutcome<B>) {
    let (model, _) = load_exported::<B>(start, device).expect("start model loads");
    let set = toy_set();
    let inputs = TrainInputs {
        task: Task::Rte,
        train: &set,
        dev: &set,
        pad_id: 0,
        tokenizer_dir: start,
    };
    let control = RunControl {
        resume,
        save: SavePolicy {
            save_steps: Some(2),
            save_total_limit: 100,
        },
    };
    let outcome =
        train(model, &inputs, config, run, &control, device, &mut Silent).expect("training runs");
    let updates = run
        .metrics()
        .expect("metrics.jsonl")
        .into_iter()
        .filter_map(|line| match line {
            MetricsLine::Train(step) => Some((step.loss, step.grad_norm)),
            MetricsLine::Eval(_) => None,
        })
        .collect();
    (updates, outcome)
}

fn toy_logits<B: sesame_core::SesameBackend>(
    model: &SequenceClassifier<B>,
    device: &B::Device,
) -> Vec<f32> {
    predict(
        model,
        &toy_set(),
        8,
        0,
        &Padding::Longest { multiple: 1 },
        device,
    )
    .expect("predict")
    .logits
    .concat()
}

// Long: one short run is the reference of every later stage (repeat, resume, export and reload); splitting
// it would train the run once per stage, minutes each on a software GPU.
#[test]
fn a_short_sesamebert_run_follows_the_cpu_backend_repeats_resumes_and_its_export_reloads() {
    let _streams = random_streams();
    let scratch = temp_dir("gpu-path");
    // One starting point for both backends: a tiny SesameBERT with dropout off, written to disk.
    let mut config = tiny_config();
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    let mut variant = SesameConfig::sesamebert(2);
    if let Some(blur) = variant.attention.blur.as_mut() {
        blur.sigma = 0.5;
    }
    let cpu_device = Default::default();
    Cpu::seed(&cpu_device, 7);
    let start_model =
        SequenceClassifier::<Cpu>::new(&config, &variant, &cpu_device).expect("tiny model");
    let start = scratch.path().join("start");
    std::fs::create_dir_all(&start).expect("start dir");
    export_model(&start_model, Task::Rte, &minilm_dir(), &start).expect("export start");

    let cpu_run = RunDir::create(scratch.path().join("cpu")).expect("run dir");
    let (cpu_updates, _) = short_run::<Autodiff<Cpu>>(&start, &cpu_run, false, &cpu_device);
    let device = device();
    let run = RunDir::create(scratch.path().join("chosen")).expect("run dir");
    let (updates, trained) = short_run::<AutodiffBackend>(&start, &run, false, &device);
    assert_eq!(updates.len(), 6, "2 epochs × 3 updates");
    assert_eq!(updates.len(), cpu_updates.len());
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
    let mut worst = (0f64, 0f64);
    for (i, ((loss, norm), (cpu_loss, cpu_norm))) in updates.iter().zip(&cpu_updates).enumerate() {
        eprintln!(
            "{} update {}: loss {loss:.7} vs CPU {cpu_loss:.7}, grad norm {norm:.7} vs {cpu_norm:.7}",
            backend::NAME,
            i + 1
        );
        worst.0 = worst.0.max(rel(*loss, *cpu_loss));
        worst.1 = worst.1.max(rel(*norm, *cpu_norm));
    }
    eprintln!(
        "{} vs CPU: worst relative difference, loss {:.2e}, gradient norm {:.2e}",
        backend::NAME,
        worst.0,
        worst.1
    );
    assert!(worst.0 <= 1e-4, "losses differ from the CPU backend's");
    // burn-ndarray differentiates softmax and LayerNorm with its SIMD reciprocal estimate (docs/robustness.md),
    // so the CPU reference's gradients are themselves good to about 1e-4 relative, worse for a small norm.
    assert!(
        worst.1 <= 1e-3,
        "gradient norms differ from the CPU backend's"
    );

    // With dropout on (tiny_config's probabilities), the same seed gives the same run twice on the chosen
    // backend, and a run resumed from its checkpoint after update 2 (alone in a copy of the run) retraces it:
    // the dropout masks are reseeded per batch from (seed, epoch, batch), on the host or on the device.
    let dropout_start = scratch.path().join("start-dropout");
    copy_dir(&start, &dropout_start);
    let config_file = dropout_start.join("config.json");
    let mut with_dropout: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_file).expect("config.json"))
            .expect("config.json parses");
    let defaults = tiny_config();
    with_dropout["hidden_dropout_prob"] = defaults.hidden_dropout_prob.into();
    with_dropout["attention_probs_dropout_prob"] = defaults.attention_probs_dropout_prob.into();
    std::fs::write(&config_file, with_dropout.to_string()).expect("config.json");
    let first = RunDir::create(scratch.path().join("dropout-first")).expect("run dir");
    let (first_updates, first_model) =
        short_run::<AutodiffBackend>(&dropout_start, &first, false, &device);
    let second = RunDir::create(scratch.path().join("dropout-second")).expect("run dir");
    let (second_updates, second_model) =
        short_run::<AutodiffBackend>(&dropout_start, &second, false, &device);
    assert_ne!(
        first_updates[0], updates[0],
        "dropout changes the first update from the same start (else this part proves nothing)"
    );
    let repeat_diff = max_diff(
        &toy_logits(&second_model, &device),
        &toy_logits(&first_model, &device),
    );
    eprintln!(
        "{} same seed twice, dropout on: updates {:?} vs {:?}, final logits differ by {repeat_diff:.3e}",
        backend::NAME,
        first_updates,
        second_updates
    );
    assert_eq!(first_updates, second_updates, "the same seed, another run");
    assert_eq!(repeat_diff, 0.0);

    let resumed = RunDir::create(scratch.path().join("resumed")).expect("run dir");
    copy_dir(&first.path, &resumed.path);
    let checkpoints = resumed.path.join("checkpoints");
    for entry in std::fs::read_dir(&checkpoints).expect("checkpoints") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("checkpoint-") && name != "checkpoint-2" {
            std::fs::remove_dir_all(entry.path()).expect("remove checkpoint");
        }
    }
    std::fs::write(checkpoints.join("LATEST"), "checkpoint-2").expect("pointer");
    let (resumed_updates, resumed_model) =
        short_run::<AutodiffBackend>(&dropout_start, &resumed, true, &device);
    assert_eq!(resumed_updates.len(), first_updates.len());
    for (i, (a, b)) in resumed_updates.iter().zip(&first_updates).enumerate() {
        assert!(
            rel(a.0, b.0) <= 1e-6 && rel(a.1, b.1) <= 1e-6,
            "resumed update {}: {a:?} vs uninterrupted {b:?}",
            i + 1
        );
    }
    let resumed_diff = max_diff(
        &toy_logits(&resumed_model, &device),
        &toy_logits(&first_model, &device),
    );
    eprintln!(
        "{} resumed at update 2: final logits differ by {resumed_diff:.3e}",
        backend::NAME
    );
    assert!(resumed_diff <= 1e-6);

    // The trained model, exported on the chosen backend, reloads there and on the CPU with the same outputs;
    // the run's own best export loads on both.
    let exported = scratch.path().join("exported");
    std::fs::create_dir_all(&exported).expect("export dir");
    export_model(&trained, Task::Rte, &start, &exported).expect("export");
    let want = toy_logits(&trained, &device);
    let (reloaded, meta) = load_exported::<Backend>(&exported, &device).expect("export reloads");
    assert_eq!(meta.task, Task::Rte);
    let again = toy_logits(&reloaded, &device);
    let (on_cpu, _) =
        load_exported::<Cpu>(&exported, &cpu_device).expect("export reloads on the CPU");
    let cpu = toy_logits(&on_cpu, &cpu_device);
    eprintln!(
        "{} reload: max diff {:.3e}, CPU reload {:.3e}",
        backend::NAME,
        max_diff(&again, &want),
        max_diff(&cpu, &want)
    );
    assert!(max_diff(&again, &want) <= 1e-6);
    assert!(max_diff(&cpu, &want) <= 1e-4);
    let best = run.path.join("best");
    load_exported::<Backend>(&best, &device).expect("best reloads");
    load_exported::<Cpu>(&best, &cpu_device).expect("best reloads on the CPU");
    for dir in [
        start,
        dropout_start,
        exported,
        cpu_run.path,
        run.path,
        first.path,
        second.path,
        resumed.path,
    ] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A start model for the training tests: a tiny SesameBERT with dropout off, exported to `dir` from the CPU.
fn tiny_start(dir: &Path) {
    let mut config = tiny_config();
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    let cpu_device = Default::default();
    Cpu::seed(&cpu_device, 7);
    let model = SequenceClassifier::<Cpu>::new(&config, &SesameConfig::sesamebert(2), &cpu_device)
        .expect("tiny model");
    std::fs::create_dir_all(dir).expect("start dir");
    export_model(&model, Task::Rte, &minilm_dir(), dir).expect("export start");
}

/// The largest relative difference between two runs' per-update losses and gradient norms.
fn worst_relative(a: &[(f64, f64)], b: &[(f64, f64)]) -> (f64, f64) {
    assert_eq!(a.len(), b.len(), "both runs make the same updates");
    let rel = |x: f64, y: f64| (x - y).abs() / y.abs().max(1e-12);
    a.iter().zip(b).fold((0f64, 0f64), |w, (x, y)| {
        (w.0.max(rel(x.0, y.0)), w.1.max(rel(x.1, y.1)))
    })
}

#[test]
fn a_shape_plan_fills_and_pads_batches_without_changing_the_training() {
    let _streams = random_streams();
    let scratch = temp_dir("gpu-path");
    let start = scratch.path().join("plan-start");
    tiny_start(&start);
    // Batches of 7 over 24 examples: every epoch ends with 3 examples and 4 filler rows, and the dev set
    // (the same 24) too; lengths (6 to 9 tokens) go to the plan's buckets.
    let dynamic = TrainConfig {
        batch_size: 7,
        ..short_recipe()
    };
    let planned = TrainConfig {
        length_buckets: 2,
        ..dynamic.clone()
    };
    let cpu_device = Default::default();
    let cpu_run = RunDir::create(scratch.path().join("plan-cpu")).expect("run dir");
    let (cpu_updates, cpu_outcome) =
        run_recipe::<Autodiff<Cpu>>(&start, &cpu_run, false, &dynamic, &cpu_device);
    let device = device();
    let run = RunDir::create(scratch.path().join("plan-chosen")).expect("run dir");
    let (updates, outcome) = run_recipe::<AutodiffBackend>(&start, &run, false, &planned, &device);
    let shapes = &outcome.startup.planned_shapes;
    eprintln!(
        "{} planned shapes {shapes:?}; updates {updates:?}",
        backend::NAME
    );
    assert!(!shapes.is_empty() && shapes.iter().all(|&[rows, _]| rows == 7));
    assert!(shapes.iter().all(|&[_, n]| n >= 9 && n % 8 == 0));
    assert!(cpu_outcome.startup.planned_shapes.is_empty());
    assert_eq!(updates.len(), 8, "2 epochs × 4 updates");
    let (loss, norm) = worst_relative(&updates, &cpu_updates);
    eprintln!(
        "{} planned vs dynamic CPU run: worst relative difference, loss {loss:.2e}, gradient norm {norm:.2e}",
        backend::NAME
    );
    assert!(loss <= 1e-4 && norm <= 1e-3);
    // Evaluation in planned batches (filler rows dropped) gives the dev loss of the dynamic run.
    let eval_losses = |run: &RunDir| -> Vec<f64> {
        run.metrics()
            .expect("metrics.jsonl")
            .into_iter()
            .filter_map(|line| match line {
                MetricsLine::Eval(eval) => eval.loss,
                MetricsLine::Train(_) => None,
            })
            .collect()
    };
    let (planned_eval, cpu_eval) = (eval_losses(&run), eval_losses(&cpu_run));
    eprintln!(
        "{} dev losses {planned_eval:?} vs CPU {cpu_eval:?}",
        backend::NAME
    );
    assert_eq!(planned_eval.len(), 2);
    let pairs: Vec<(f64, f64)> = planned_eval.iter().map(|&l| (l, 1.0)).collect();
    let cpu_pairs: Vec<(f64, f64)> = cpu_eval.iter().map(|&l| (l, 1.0)).collect();
    assert!(worst_relative(&pairs, &cpu_pairs).0 <= 1e-4);
    for dir in [start, cpu_run.path, run.path] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Sets the process's precision, and sets it back to f32 when dropped (also when a test fails).
struct PrecisionGuard;

impl Drop for PrecisionGuard {
    fn drop(&mut self) {
        sesame::core::fused::set_precision(Precision::F32);
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        sesame::core::fused::strict::force(false);
    }
}

#[test]
fn mixed_precision_follows_f32_within_a_percent_or_is_refused_by_name() {
    let _streams = random_streams();
    let scratch = temp_dir("gpu-path");
    let _reset = PrecisionGuard;
    let device = device();
    let can = backend::precisions(&device);
    eprintln!("{} computes in {can:?}", backend::NAME);
    let Some(&half) = [Precision::F16, Precision::Bf16]
        .iter()
        .find(|p| can.contains(p))
    else {
        // A backend without half types says so, naming what it can do.
        let err = backend::set_precision(Precision::F16, &device)
            .expect_err("f16 is refused where the backend lacks it");
        assert!(err.to_string().contains("f32"), "{err}");
        assert!(can.contains(&Precision::F32));
        return;
    };
    let start = scratch.path().join("mixed-start");
    tiny_start(&start);
    // 12 updates (4 epochs of 3).
    let f32_recipe = TrainConfig {
        epochs: 4,
        ..short_recipe()
    };
    let half_recipe = TrainConfig {
        precision: half,
        ..f32_recipe.clone()
    };
    let f32_run = RunDir::create(scratch.path().join("mixed-f32")).expect("run dir");
    let (f32_updates, _) =
        run_recipe::<AutodiffBackend>(&start, &f32_run, false, &f32_recipe, &device);
    let half_run = RunDir::create(scratch.path().join("mixed-half")).expect("run dir");
    let (half_updates, outcome) =
        run_recipe::<AutodiffBackend>(&start, &half_run, false, &half_recipe, &device);
    for (i, (h, f)) in half_updates.iter().zip(&f32_updates).enumerate() {
        eprintln!(
            "{} update {}: loss {half} {:.6} vs f32 {:.6}",
            backend::NAME,
            i + 1,
            h.0,
            f.0
        );
    }
    assert!(half_updates
        .iter()
        .all(|u| u.0.is_finite() && u.1.is_finite()));
    assert_eq!(outcome.state.skipped_updates, 0, "no overflow on this run");
    let (loss, _) = worst_relative(&half_updates, &f32_updates);
    eprintln!(
        "{} {half} vs f32: worst relative loss difference {loss:.2e}",
        backend::NAME
    );
    assert!(loss <= 1e-2, "{half} losses are within 1 % of f32's");
    assert!(loss > 0.0, "the {half} run computed in {half}");
    // A pretrained model shows the rounding plainly: MiniLM's hidden states in half-precision products are off
    // by about the half type's precision, far beyond f32's 1e-5 and far below an error.
    backend::set_precision(half, &device).expect("the backend computes it");
    let golden = Golden::open("minilm_public.safetensors");
    let mask = golden_mask(&golden);
    let out = minilm(&AttentionConfig::default())
        .forward(golden_input(&golden), false)
        .expect("forward");
    let (shape, want) = first_examples(golden.f32("hidden_states.6"));
    let got = to_host(out.hidden_states[6].clone()).expect("host copy");
    let (real, _) = masked_max_diff(&got, &want, &mask, shape[2]);
    eprintln!(
        "{} {half} MiniLM hidden_states.6: max diff real tokens {real:.3e}",
        backend::NAME
    );
    assert!((1e-4..5e-2).contains(&real), "{half} products: {real}");
    for dir in [start, f32_run.path, half_run.path] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// On the GPU backends, the full-f32 products (`fused::strict`, used for `--precision f32` where burn's own
/// could round to TF32) give the CPU's parity with `transformers`; forced here, since this device has no TF32.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
#[test]
fn the_full_f32_products_match_transformers() {
    let _streams = random_streams();
    let _reset = PrecisionGuard;
    sesame::core::fused::strict::force(true);
    let golden = Golden::open("minilm_public.safetensors");
    let model = minilm(&AttentionConfig::default());
    let before = sesame::core::fused::strict::products_run();
    check_hidden_states(&model, &golden, "hidden_states.", &[0, 3, 6]);
    let products = sesame::core::fused::strict::products_run() - before;
    eprintln!("{} full-f32 products run: {products}", backend::NAME);
    // 6 layers × (4 dense + 2 attention products + 2 FFN dense) at least.
    assert!(
        products >= 48,
        "the forward pass used the full-f32 products ({products})"
    );
}
