//! The learner learns: a tiny model overfits a small training set, for the baseline and for SesameBERT, and
//! the optimizer matches `torch.optim.AdamW` on a hand-computed step.

use burn::backend::{Autodiff, NdArray};
use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use sesame_core::{SequenceClassifier, SesameConfig};
use std::path::Path;

use sesame_testkit::{random_streams, temp_dir, tiny_config, toy_set};
use sesame_train::batching::Padding;
use sesame_train::optim::{AdamWConfig, BertAdamW, StepRates};
use sesame_train::run::RunDir;
use sesame_train::{predict, train, RunControl, Silent, TrainConfig, TrainInputs, TrainOutcome};
use sesame_train::{Label, Task};

type AD = Autodiff<NdArray<f32>>;

/// A tiny model of `model_config` (seed 7) trained with `config` on the toy set, which is also its dev set, into a
/// fresh run directory `run`.
fn train_on_toy_set(
    model_config: &SesameConfig,
    config: &TrainConfig,
    run: &Path,
) -> (TrainOutcome<AD>, RunDir) {
    let device = Default::default();
    let _streams = random_streams();
    AD::seed(&device, 7);
    let model =
        SequenceClassifier::<AD>::new(&tiny_config(), model_config, &device).expect("model");
    let set = toy_set();
    let run = RunDir::create(run).expect("run dir");
    let inputs = TrainInputs {
        task: Task::Rte,
        train: &set,
        dev: &set,
        pad_id: 0,
        tokenizer_dir: &run.path,
    };
    let outcome = train(
        model,
        &inputs,
        config,
        &run,
        &RunControl::default(),
        &device,
        &mut Silent,
    )
    .expect("training runs");
    (outcome, run)
}

fn overfit(model_config: SesameConfig, name: &str) {
    let mut config = TrainConfig {
        learning_rate: 2e-3,
        epochs: 40,
        batch_size: 8,
        warmup_ratio: 0.0,
        ..TrainConfig::default()
    };
    config.optimizer.weight_decay = 0.0;
    let scratch = temp_dir(name);
    let (outcome, run) = train_on_toy_set(&model_config, &config, &scratch.path().join("run"));
    let (device, set) = (Default::default(), toy_set());
    let inner = burn::module::AutodiffModule::valid(&outcome.model);
    let outputs = predict(
        &inner,
        &set,
        8,
        0,
        &Padding::Longest { multiple: 1 },
        &device,
    )
    .expect("predict");
    let gold: Vec<usize> = set
        .labels
        .iter()
        .map(|l| match l {
            Some(Label::Class(c)) => *c,
            _ => usize::MAX,
        })
        .collect();
    assert_eq!(
        outputs.classes(),
        gold,
        "{name}: the model did not fit its training set"
    );
    // The run directory holds what it promises.
    for file in [
        "config.json",
        "model.safetensors",
        "sesame.json",
        "predictions_dev.tsv",
    ] {
        assert!(run.path.join("best").join(file).is_file(), "best/{file}");
    }
    assert!(run.path.join("metrics.jsonl").is_file());
    assert!(run.path.join("final_metrics.json").is_file());
    let _ = std::fs::remove_dir_all(&run.path);
}

#[test]
fn tiny_baseline_overfits_to_100_percent() {
    overfit(SesameConfig::baseline(2), "baseline");
}

#[test]
fn tiny_sesamebert_overfits_to_100_percent() {
    let mut config = SesameConfig::sesamebert(2);
    if let Some(blur) = config.attention.blur.as_mut() {
        blur.sigma = 0.5;
    }
    overfit(config, "sesamebert");
}

/// A module with one weight matrix and one bias, to check one AdamW update by hand.
#[derive(burn::module::Module, Debug)]
struct Tiny<B: Backend> {
    w: Param<Tensor<B, 2>>,
    b: Param<Tensor<B, 1>>,
}

impl Tiny<AD> {
    /// A weight and a bias, both `value`.
    fn at(value: f32) -> Self {
        let device = Default::default();
        Tiny {
            w: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![value], [1, 1]),
                &device,
            )),
            b: Param::from_tensor(Tensor::from_data(
                TensorData::new(vec![value], [1]),
                &device,
            )),
        }
    }
}

#[test]
fn one_adamw_step_matches_torch_by_hand() {
    let model = Tiny::at(1.0);
    // loss = 0.5·w + 0.5·b → both gradients 0.5.
    let loss = (model.w.val().reshape([1]) + model.b.val()) * 0.5;
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = BertAdamW::<AD>::new(AdamWConfig {
        max_grad_norm: None,
        ..AdamWConfig::default()
    });
    let rates = StepRates {
        lr: 0.1,
        fresh_lr: 0.1,
    };
    let (model, _) = optim.step(model, grads, rates, &Default::default());
    let w = model.w.val().into_data().to_vec::<f32>().expect("f32")[0];
    let b = model.b.val().into_data().to_vec::<f32>().expect("f32")[0];
    // torch: p ← p(1 − lr·wd) − lr/(1−β₁) · m / (√v/√(1−β₂) + ε), m = 0.05, v = 0.00025.
    let update = 0.1 / 0.1 * 0.05 / ((0.00025f64).sqrt() / (0.001f64).sqrt() + 1e-6);
    assert!(
        (w as f64 - (1.0 * (1.0 - 0.1 * 0.01) - update)).abs() < 1e-6,
        "w = {w}"
    );
    assert!(
        (b as f64 - (1.0 - update)).abs() < 1e-6,
        "b = {b} (biases are not decayed)"
    );
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    let model = Tiny::at(0.0);
    // Gradients 3 and 4: global norm 5, clipped to 1 → 0.6 and 0.8. With plain SGD-like first step of AdamW
    // the update is sign-like, so check the reported norm instead.
    let loss = model.w.val().reshape([1]) * 3.0 + model.b.val() * 4.0;
    let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = BertAdamW::<AD>::new(AdamWConfig::default());
    let (_, norm) = optim.step(
        model,
        grads,
        StepRates {
            lr: 0.1,
            fresh_lr: 0.1,
        },
        &Default::default(),
    );
    let norm = norm
        .expect("norm")
        .into_data()
        .to_vec::<f32>()
        .expect("f32")[0];
    assert!((norm - 5.0).abs() < 1e-5, "{norm}");
    // The first moment holds the clipped gradient: (1 − β₁)·g·(1/5).
    let m: Vec<f32> = optim
        .state
        .values()
        .map(|s| s.m.clone().into_data().to_vec::<f32>().expect("f32")[0])
        .collect();
    let mut m = m;
    m.sort_by(f32::total_cmp);
    assert!(
        (m[0] - 0.1 * 0.6).abs() < 1e-6 && (m[1] - 0.1 * 0.8).abs() < 1e-6,
        "{m:?}"
    );
}

#[test]
fn early_stopping_ends_the_run_when_the_dev_metric_stalls_and_trainer_files_say_so() {
    // A learning rate far too small to change any prediction: dev accuracy is the same after every epoch, so
    // the first evaluation stays the best and patience 2 ends the run after epoch 3 of 10.
    let config = TrainConfig {
        learning_rate: 1e-12,
        epochs: 10,
        batch_size: 8,
        early_stopping_patience: Some(2),
        ..TrainConfig::default()
    };
    let scratch = temp_dir("early-stopping");
    let (outcome, run) = train_on_toy_set(
        &SesameConfig::baseline(2),
        &config,
        &scratch.path().join("run"),
    );
    assert!(outcome.state.stopped_early);
    assert_eq!(outcome.state.epochs_done, 3);
    assert_eq!(outcome.state.history.len(), 3);
    assert_eq!(outcome.state.best_epoch, Some(0));
    assert_eq!(outcome.state.updates, 9);

    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(run.path.join(name)).expect(name))
            .expect("json")
    };
    let state = read("trainer_state.json");
    assert_eq!(state["global_step"], 9);
    assert_eq!(state["max_steps"], 30);
    assert_eq!(state["best_global_step"], 3);
    assert_eq!(state["epoch"], 3.0);
    assert_eq!(
        state["stateful_callbacks"]["EarlyStoppingCallback"]["attributes"]
            ["early_stopping_patience_counter"],
        2
    );
    let history = state["log_history"].as_array().expect("log_history");
    let evals: Vec<f64> = history
        .iter()
        .filter_map(|e| e.get("eval_accuracy").and_then(|v| v.as_f64()))
        .collect();
    assert_eq!(evals.len(), 3, "{history:?}");
    assert!(history
        .last()
        .expect("entries")
        .get("train_runtime")
        .is_some());
    // The mean dev cross-entropy is ln 2 give or take for an untrained 2-class head.
    let eval = read("eval_results.json");
    let loss = eval["eval_loss"].as_f64().expect("eval_loss");
    assert!((loss - 2f64.ln()).abs() < 0.2, "eval_loss {loss}");
    assert_eq!(eval["eval_samples"], 24);
    assert_eq!(
        read("all_results.json")["eval_accuracy"],
        eval["eval_accuracy"]
    );
    let _ = std::fs::remove_dir_all(&run.path);
}
