//! Recipe options that change how an update is made: gradient accumulation (and resuming between its
//! micro-batches) and a head learning rate apart from the body's.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use sesame_core::io::weights::{param_table, to_safetensors};
use sesame_core::{BertConfig, SequenceClassifier, SesameConfig};
use sesame_testkit::{copy_dir, random_streams, temp_dir, tiny_config, toy_set, Golden};
use sesame_train::run::RunDir;
use sesame_train::Task;
use sesame_train::{train, RunControl, SavePolicy, Silent, TrainConfig, TrainInputs, TrainOutcome};

type AD = Autodiff<NdArray<f32>>;

/// The tiny model without dropout: micro-batches and whole batches then see the same function.
fn deterministic_config() -> BertConfig {
    let mut config = tiny_config();
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    config
}

/// A fresh tiny classifier (seed 5) trained with `config` on the toy set (24 examples) into `run`.
fn train_toy(config: &TrainConfig, control: &RunControl, run: &RunDir) -> TrainOutcome<AD> {
    let device = Default::default();
    AD::seed(&device, 5);
    let model =
        SequenceClassifier::<AD>::new(&deterministic_config(), &SesameConfig::baseline(2), &device)
            .expect("model");
    let set = toy_set();
    let inputs = TrainInputs {
        task: Task::Rte,
        train: &set,
        dev: &set,
        pad_id: 0,
        tokenizer_dir: &run.path,
    };
    train(model, &inputs, config, run, control, &device, &mut Silent).expect("training runs")
}

/// Every parameter by its Hugging Face name.
fn weights(model: &SequenceClassifier<AD>) -> Vec<(String, Vec<f32>)> {
    let bytes = to_safetensors(model, model.family(), |_| true)
        .expect("export")
        .expect("parameters");
    Golden::from_bytes(bytes).all_f32()
}

/// The largest difference between two models' parameters.
fn max_weight_diff(a: &SequenceClassifier<AD>, b: &SequenceClassifier<AD>) -> f32 {
    weights(a)
        .iter()
        .zip(&weights(b))
        .flat_map(|((na, va), (nb, vb))| {
            assert_eq!(na, nb);
            va.iter().zip(vb).map(|(x, y)| (x - y).abs())
        })
        .fold(0.0, f32::max)
}

fn recipe(batch_size: usize, accumulation: usize) -> TrainConfig {
    let mut config = TrainConfig {
        epochs: 2,
        batch_size,
        gradient_accumulation: accumulation,
        learning_rate: 1e-3,
        warmup_ratio: 0.0,
        logging_steps: 1,
        ..TrainConfig::default()
    };
    config.optimizer.weight_decay = 0.0;
    config
}

#[test]
fn accumulating_two_batches_of_four_is_one_batch_of_eight() {
    let _streams = random_streams();
    let scratch = temp_dir("accumulation");
    let run = |name: &str| RunDir::create(scratch.path().join(name)).expect("run dir");
    let control = RunControl::default();
    let whole = train_toy(&recipe(8, 1), &control, &run("8x1"));
    let accumulated = train_toy(&recipe(4, 2), &control, &run("4x2"));
    let small = train_toy(&recipe(4, 1), &control, &run("4x1"));
    // 24 examples: 3 updates an epoch either way.
    assert_eq!(whole.state.updates, 6);
    assert_eq!(accumulated.state.updates, 6);
    assert_eq!(small.state.updates, 12);
    let same = max_weight_diff(&whole.model, &accumulated.model);
    let other = max_weight_diff(&whole.model, &small.model);
    assert!(
        same < 2e-6,
        "4 × 2 accumulated differs from batches of 8 by {same}"
    );
    assert!(
        other > 100.0 * same.max(1e-7),
        "batches of 4 without accumulation differ by only {other}"
    );
}

#[test]
fn a_run_resumed_between_accumulated_micro_batches_ends_as_an_uninterrupted_one() {
    let _streams = random_streams();
    let scratch = temp_dir("accumulation-resume");
    // Batches of 4 accumulated 3 at a time: 2 updates an epoch, a checkpoint after every update.
    let config = recipe(4, 3);
    let control = RunControl {
        resume: false,
        save: SavePolicy {
            save_steps: Some(1),
            save_total_limit: 100,
        },
    };
    let full = RunDir::create(scratch.path().join("full")).expect("run dir");
    let a = train_toy(&config, &control, &full);
    assert_eq!(a.state.updates, 4);
    // A process killed in the middle of update 2's accumulation restarts from checkpoint-1: the micro-batches
    // it had accumulated are read again, and nothing of them may count twice.
    let resumed = RunDir::create(scratch.path().join("resumed")).expect("run dir");
    copy_dir(&full.path, &resumed.path);
    for k in 2..=4 {
        std::fs::remove_dir_all(resumed.path.join(format!("checkpoints/checkpoint-{k}")))
            .expect("rm");
    }
    let _ = std::fs::remove_file(resumed.path.join("report.json")); // where the learner writes one
    std::fs::write(resumed.path.join("checkpoints/LATEST"), "checkpoint-1").expect("pointer");
    let b = train_toy(
        &config,
        &RunControl {
            resume: true,
            ..control
        },
        &resumed,
    );
    assert_eq!(b.state.updates, 4);
    let diff = max_weight_diff(&a.model, &b.model);
    assert!(
        diff == 0.0,
        "resumed between micro-batches, the weights differ by {diff}"
    );
}

#[test]
fn the_head_learning_rate_moves_the_head_and_the_body_by_their_own_rates() {
    let _streams = random_streams();
    let scratch = temp_dir("head-lr");
    // One update on all 24 examples: Adam's first step moves every parameter with a gradient by about its
    // learning rate (m̂ / √v̂ = ±1), so the largest change of each group is its rate.
    let mut config = recipe(24, 1);
    config.epochs = 1;
    config.learning_rate = 1e-4;
    config.head_learning_rate = Some(5e-3);
    config.optimizer.max_grad_norm = None;
    let device: <AD as burn::tensor::backend::BackendTypes>::Device = Default::default();
    AD::seed(&device, 5);
    let before =
        SequenceClassifier::<AD>::new(&deterministic_config(), &SesameConfig::baseline(2), &device)
            .expect("model");
    let run = RunDir::create(scratch.path().join("run")).expect("run dir");
    let after = train_toy(&config, &RunControl::default(), &run);
    assert_eq!(after.state.updates, 1);
    let head: Vec<String> = param_table(&before, before.family())
        .into_iter()
        .filter(|p| p.origin.is_fresh())
        .map(|p| p.name)
        .collect();
    assert!(!head.is_empty());
    let (mut head_step, mut body_step) = (0f32, 0f32);
    for ((name, old), (_, new)) in weights(&before).iter().zip(&weights(&after.model)) {
        let step = old
            .iter()
            .zip(new)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        if head.contains(name) {
            head_step = head_step.max(step);
        } else {
            body_step = body_step.max(step);
        }
    }
    assert!(
        (head_step - 5e-3).abs() < 5e-3 * 0.02,
        "head moved by up to {head_step}, rate 5e-3"
    );
    assert!(
        (body_step - 1e-4).abs() < 1e-4 * 0.02,
        "body moved by up to {body_step}, rate 1e-4"
    );
}
