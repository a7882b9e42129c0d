//! The fine-tuning loop: BERT's recipe (methods.md §1.6) on any `SequenceClassifier` variant, with evaluation,
//! best-checkpoint selection, crash-safe checkpoints and exact resumption at epoch boundaries.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};
use sesame_core::params::{write_safetensors, NamedTensor, ParamExporter, ParamNames};
use sesame_core::{Checkpoint, SequenceClassifier};

use crate::batching::{epoch_batches, TokenizedSet};
use crate::error::TrainError;
use crate::export::export_model;
use crate::metrics::{selection_metric, task_metrics, Predictions};
use crate::optim::{AdamWConfig, BertAdamW, Moments, StepRates};
use crate::rng::SplitMix64;
use crate::run::RunDir;
use crate::schedule::{linear_warmup_decay, warmup_steps};
use crate::tasks::{Label, Task};

/// The recipe. Defaults are BERT's GLUE settings as `run_glue.py` uses them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub task: Task,
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    /// Peak learning rate of the freshly initialised parameters (head, SE gate, scalar mix, localness);
    /// `None` = `learning_rate`.
    #[serde(default)]
    pub fresh_learning_rate: Option<f64>,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Micro-batches per optimizer update (effective batch = batch_size × this).
    #[serde(default = "d_one")]
    pub gradient_accumulation: usize,
    #[serde(default = "d_len")]
    pub max_seq_length: usize,
    #[serde(default = "d_warmup")]
    pub warmup_ratio: f64,
    #[serde(default)]
    pub optimizer: AdamWConfig,
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_eval_batch")]
    pub eval_batch_size: usize,
    /// Also evaluate every N optimizer updates (always at the end of each epoch).
    #[serde(default)]
    pub eval_every: Option<usize>,
    /// Log loss, learning rate and throughput every N updates (the only host reads of the loss).
    #[serde(default = "d_log")]
    pub log_every: usize,
    /// Group examples of similar length into batches (less padding; order still random).
    #[serde(default)]
    pub bucket_by_length: bool,
    /// Round padded lengths up to a multiple of this (8 or 32 on GPUs, so kernels compile for few shapes).
    #[serde(default = "d_one")]
    pub pad_to_multiple: usize,
    /// Use only the first N training examples (quick runs).
    #[serde(default)]
    pub max_train_examples: Option<usize>,
}

fn d_lr() -> f64 {
    3e-5
}
fn d_epochs() -> usize {
    3
}
fn d_batch() -> usize {
    32
}
fn d_one() -> usize {
    1
}
fn d_len() -> usize {
    128
}
fn d_warmup() -> f64 {
    0.1
}
fn d_seed() -> u64 {
    42
}
fn d_eval_batch() -> usize {
    64
}
fn d_log() -> usize {
    10
}

impl TrainConfig {
    /// BERT's recipe for `task`.
    pub fn new(task: Task) -> Self {
        TrainConfig {
            task,
            learning_rate: d_lr(),
            fresh_learning_rate: None,
            epochs: d_epochs(),
            batch_size: d_batch(),
            gradient_accumulation: 1,
            max_seq_length: d_len(),
            warmup_ratio: d_warmup(),
            optimizer: AdamWConfig::default(),
            seed: d_seed(),
            eval_batch_size: d_eval_batch(),
            eval_every: None,
            log_every: d_log(),
            bucket_by_length: false,
            pad_to_multiple: 1,
            max_train_examples: None,
        }
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Invalid(m));
        if self.batch_size == 0 || self.eval_batch_size == 0 || self.gradient_accumulation == 0 {
            return bad("batch sizes and gradient accumulation must be at least 1".into());
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!(
                "learning rate must be positive, got {}",
                self.learning_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad(format!(
                "warmup ratio must be in [0, 1], got {}",
                self.warmup_ratio
            ));
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1".into());
        }
        Ok(())
    }

    /// Optimizer updates per epoch for `n` training examples.
    pub fn updates_per_epoch(&self, n: usize) -> usize {
        n.div_ceil(self.batch_size)
            .div_ceil(self.gradient_accumulation)
    }
}

/// Where a run stands; saved with every checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub epochs_done: usize,
    pub updates: usize,
    pub best_score: Option<f64>,
    pub best_epoch: Option<usize>,
    pub best_metrics: BTreeMap<String, f64>,
    /// Dev metrics after each epoch.
    pub history: Vec<BTreeMap<String, f64>>,
}

/// One logged training step.
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    pub loss: f64,
    pub learning_rate: f64,
    pub grad_norm: f64,
    pub examples_per_second: f64,
}

/// Receives progress (the CLI draws bars from it; tests ignore it).
pub trait TrainObserver {
    fn on_start(&mut self, _total_steps: usize, _done: usize) {}
    fn on_step(&mut self, _log: &StepLog) {}
    fn on_eval(&mut self, _epoch: usize, _step: usize, _metrics: &BTreeMap<String, f64>) {}
    fn on_message(&mut self, _message: &str) {}
    /// Asked after each epoch's checkpoint is written: `true` ends the run there (it can be resumed).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}

/// Predictions of a model on a set, in file order.
#[derive(Debug, Clone)]
pub struct ModelOutputs {
    /// Raw outputs `[n][num_labels]`.
    pub logits: Vec<Vec<f32>>,
    /// SE gate per example and layer `[n][L]`; empty when the model has no gate.
    pub gates: Vec<Vec<f32>>,
}

impl ModelOutputs {
    /// The SE gate of each layer averaged over the examples (paper Fig. 4); `None` without a gate.
    pub fn mean_gates(&self) -> Option<Vec<f64>> {
        let first = self.gates.first()?;
        let mut sum = vec![0.0f64; first.len()];
        for row in &self.gates {
            for (s, g) in sum.iter_mut().zip(row) {
                *s += *g as f64;
            }
        }
        let n = self.gates.len() as f64;
        Some(sum.into_iter().map(|s| s / n).collect())
    }

    /// Argmax class per example.
    pub fn classes(&self) -> Vec<usize> {
        self.logits
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect()
    }

    /// The single output per example (regression).
    pub fn values(&self) -> Vec<f64> {
        self.logits
            .iter()
            .map(|row| row.first().copied().unwrap_or(0.0) as f64)
            .collect()
    }

    /// Predictions against the gold labels of `set`, for [`task_metrics`]. Unlabelled sets give `None`.
    pub fn against(&self, task: Task, set: &TokenizedSet) -> Option<Predictions> {
        if task.is_regression() {
            let gold: Option<Vec<f64>> = set
                .labels
                .iter()
                .map(|l| match l {
                    Some(Label::Value(v)) => Some(*v as f64),
                    _ => None,
                })
                .collect();
            Some(Predictions::Values {
                predicted: self.values(),
                gold: gold?,
            })
        } else {
            let gold: Option<Vec<usize>> = set
                .labels
                .iter()
                .map(|l| match l {
                    Some(Label::Class(c)) => Some(*c),
                    _ => None,
                })
                .collect();
            Some(Predictions::Classes {
                predicted: self.classes(),
                gold: gold?,
            })
        }
    }
}

/// Runs `model` over `set` in order, in batches, without gradients.
pub fn predict<B: Backend>(
    model: &SequenceClassifier<B>,
    set: &TokenizedSet,
    batch_size: usize,
    pad_id: u32,
    pad_to_multiple: usize,
    device: &B::Device,
) -> Result<ModelOutputs, TrainError> {
    let mut logits = Vec::with_capacity(set.len());
    let mut gates = Vec::new();
    let order: Vec<usize> = (0..set.len()).collect();
    for chunk in order.chunks(batch_size.max(1)) {
        let batch = set.batch(chunk, pad_id, pad_to_multiple);
        let config = model.bert.config();
        batch.check_vocab(config.vocab_size, config.type_vocab_size)?;
        let out = model.forward(batch.to_input(device))?;
        if let Some(g) = out.gates {
            let [b, l] = g.dims();
            let data = g
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| TrainError::Invalid(format!("cannot read SE gates: {e:?}")))?;
            gates.extend((0..b).map(|i| data[i * l..(i + 1) * l].to_vec()));
        }
        let [b, c] = out.logits.dims();
        let data = out
            .logits
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| TrainError::Invalid(format!("cannot read logits: {e:?}")))?;
        logits.extend((0..b).map(|i| data[i * c..(i + 1) * c].to_vec()));
    }
    Ok(ModelOutputs { logits, gates })
}

/// The result of [`train`].
pub struct TrainOutcome<B: AutodiffBackend> {
    /// The model after the last epoch.
    pub model: SequenceClassifier<B>,
    pub state: TrainerState,
    /// The exported best model on dev.
    pub best_dir: PathBuf,
}

/// Everything [`train`] needs besides the model.
pub struct TrainInputs<'a> {
    pub train: &'a TokenizedSet,
    pub dev: &'a TokenizedSet,
    pub pad_id: u32,
    /// Where the tokenizer files come from (copied into exported models).
    pub tokenizer_dir: &'a Path,
}

/// Fine-tunes `model` on `inputs.train`, evaluating on `inputs.dev` after every epoch, writing the run to `run`.
/// With `resume`, continues from the run's latest checkpoint (same result as an uninterrupted run).
pub fn train<B: AutodiffBackend>(
    mut model: SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    device: &B::Device,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>, TrainError> {
    config.validate()?;
    let train_set = inputs.train;
    if train_set.is_empty() {
        return Err(TrainError::Invalid("the training set is empty".into()));
    }
    let n_train = config
        .max_train_examples
        .map_or(train_set.len(), |m| m.min(train_set.len()));
    let lengths: Vec<usize> = train_set.encodings[..n_train]
        .iter()
        .map(|e| e.len())
        .collect();
    let total = config.updates_per_epoch(n_train) * config.epochs;
    let warmup = warmup_steps(config.warmup_ratio, total);
    let fresh_lr = config.fresh_learning_rate.unwrap_or(config.learning_rate);

    let mut optim = BertAdamW::<B>::new(config.optimizer.clone());
    let mut state = TrainerState::default();
    if resume {
        if let Some(dir) = run.latest_checkpoint()? {
            restore_checkpoint(&dir, &mut model, &mut optim, &mut state, device)?;
            observer.on_message(&format!(
                "resumed from {} (epoch {}, update {})",
                dir.display(),
                state.epochs_done,
                state.updates
            ));
        }
    }
    let fresh = fresh_param_ids(&mut model);
    let best_dir = run.file("best");
    observer.on_start(total, state.updates);

    for epoch in state.epochs_done..config.epochs {
        // Dropout and shuffling depend only on (seed, epoch): a resumed run replays them exactly.
        let epoch_seed = config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(epoch as u64 + 1);
        B::seed(device, epoch_seed);
        sesame_core::dropout::seed(epoch_seed);
        let mut rng = SplitMix64::derive(config.seed, epoch as u64);
        let batches = epoch_batches(
            &lengths,
            config.batch_size,
            Some(&mut rng),
            config.bucket_by_length,
        );
        let mut accumulator = GradientsAccumulator::<SequenceClassifier<B>>::new();
        let mut pending = 0usize;
        let mut loss_sum: Option<Tensor<B::InnerBackend, 1>> = None;
        let mut loss_count = 0usize;
        let mut seen = 0usize;
        let mut clock = Instant::now();
        for (i, indices) in batches.iter().enumerate() {
            let batch = train_set.batch(indices, inputs.pad_id, config.pad_to_multiple);
            let targets = train_set.targets::<B>(indices, device)?;
            let out = model.forward(batch.to_input(device))?;
            let loss = model.loss(&out, targets)?;
            let detached = loss.clone().inner();
            loss_sum = Some(match loss_sum.take() {
                Some(s) => s + detached,
                None => detached,
            });
            loss_count += 1;
            seen += indices.len();
            let loss = if config.gradient_accumulation > 1 {
                loss / config.gradient_accumulation as f64
            } else {
                loss
            };
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            accumulator.accumulate(&model, grads);
            pending += 1;
            let last = i + 1 == batches.len();
            if pending < config.gradient_accumulation && !last {
                continue;
            }
            pending = 0;
            let factor = linear_warmup_decay(state.updates, warmup, total);
            let rates = StepRates {
                lr: config.learning_rate * factor,
                fresh_lr: fresh_lr * factor,
            };
            let (updated, norm) = optim.step(model, accumulator.grads(), rates, &fresh);
            model = updated;
            state.updates += 1;

            if state.updates % config.log_every == 0 || last {
                let loss = loss_sum
                    .take()
                    .map_or(0.0, |s| scalar(s) / loss_count.max(1) as f64);
                let elapsed = clock.elapsed().as_secs_f64().max(1e-9);
                let log = StepLog {
                    step: state.updates,
                    total_steps: total,
                    epoch,
                    loss,
                    learning_rate: rates.lr,
                    grad_norm: norm.map_or(0.0, scalar),
                    examples_per_second: seen as f64 / elapsed,
                };
                run.log(
                    &serde_json::json!({"type": "train", "step": log.step, "epoch": epoch,
                    "loss": log.loss, "lr": log.learning_rate, "grad_norm": log.grad_norm,
                    "examples_per_second": log.examples_per_second}),
                )?;
                observer.on_step(&log);
                loss_count = 0;
                seen = 0;
                clock = Instant::now();
            }
            if config.eval_every.is_some_and(|k| state.updates % k == 0) && !last {
                let metrics =
                    evaluate_and_keep_best(&model, inputs, config, run, &mut state, epoch, device)?;
                observer.on_eval(epoch, state.updates, &metrics);
            }
        }
        let metrics =
            evaluate_and_keep_best(&model, inputs, config, run, &mut state, epoch, device)?;
        state.history.push(metrics.clone());
        observer.on_eval(epoch, state.updates, &metrics);
        state.epochs_done = epoch + 1;
        save_checkpoint(
            run,
            &format!("epoch-{}", epoch + 1),
            &mut model,
            &optim,
            &state,
        )?;
        if state.epochs_done < config.epochs && observer.should_stop() {
            observer.on_message(&format!(
                "stopped after epoch {}; resume to continue",
                state.epochs_done
            ));
            break;
        }
    }
    run.write_json(
        "final_metrics.json",
        &serde_json::json!({
            "task": config.task,
            "best_epoch": state.best_epoch,
            "best": state.best_metrics,
            "history": state.history,
            "updates": state.updates,
        }),
    )?;
    Ok(TrainOutcome {
        model,
        state,
        best_dir,
    })
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

/// Evaluates on dev, logs, and exports the model to `best/` when the selection metric improves.
fn evaluate_and_keep_best<B: AutodiffBackend>(
    model: &SequenceClassifier<B>,
    inputs: &TrainInputs<'_>,
    config: &TrainConfig,
    run: &RunDir,
    state: &mut TrainerState,
    epoch: usize,
    device: &B::Device,
) -> Result<BTreeMap<String, f64>, TrainError> {
    let inner = model.valid();
    let outputs = predict(
        &inner,
        inputs.dev,
        config.eval_batch_size,
        inputs.pad_id,
        config.pad_to_multiple,
        device,
    )?;
    let predictions = outputs
        .against(config.task, inputs.dev)
        .ok_or_else(|| TrainError::Invalid("the dev set has unlabelled examples".into()))?;
    let metrics = task_metrics(config.task, &predictions);
    let mean_gates = outputs.mean_gates();
    let mut line = serde_json::json!({"type": "eval", "epoch": epoch, "step": state.updates});
    if let Some(obj) = line.as_object_mut() {
        for (k, v) in &metrics {
            obj.insert(k.clone(), (*v).into());
        }
        if let Some(gates) = &mean_gates {
            obj.insert("se_gates".into(), gates.clone().into());
        }
    }
    run.log(&line)?;
    let score = metrics
        .get(selection_metric(config.task))
        .copied()
        .unwrap_or(f64::NEG_INFINITY);
    if state.best_score.is_none_or(|best| score > best) {
        state.best_score = Some(score);
        state.best_epoch = Some(epoch);
        state.best_metrics = metrics.clone();
        let predictions_tsv = prediction_table(config.task, &outputs, inputs.dev);
        run.replace_dir("best", |dir| {
            export_model(&inner, config.task, inputs.tokenizer_dir, dir)?;
            crate::fsio::write_atomic(
                &dir.join("predictions_dev.tsv"),
                predictions_tsv.as_bytes(),
            )?;
            crate::fsio::write_atomic(
                &dir.join("dev_metrics.json"),
                serde_json::to_string_pretty(&metrics)
                    .unwrap_or_default()
                    .as_bytes(),
            )?;
            if let Some(gates) = &mean_gates {
                // Mean SE gate per layer on dev, for the paper's Fig. 4.
                crate::fsio::write_atomic(
                    &dir.join("se_gates.json"),
                    serde_json::to_string(gates).unwrap_or_default().as_bytes(),
                )?;
            }
            Ok(())
        })?;
    }
    Ok(metrics)
}

/// `index\tprediction\tlabel` rows for a labelled set (label strings as in the task files).
pub fn prediction_table(task: Task, outputs: &ModelOutputs, set: &TokenizedSet) -> String {
    let mut out = String::from("index\tprediction\tlabel\n");
    let names = task.labels();
    let show = |l: &Option<Label>| match l {
        Some(Label::Class(c)) => names.get(*c).map_or(c.to_string(), |s| s.to_string()),
        Some(Label::Value(v)) => format!("{v:.3}"),
        None => String::new(),
    };
    if task.is_regression() {
        for (i, (v, l)) in outputs.values().iter().zip(&set.labels).enumerate() {
            out.push_str(&format!("{i}\t{v:.3}\t{}\n", show(l)));
        }
    } else {
        for (i, (c, l)) in outputs.classes().iter().zip(&set.labels).enumerate() {
            out.push_str(&format!(
                "{i}\t{}\t{}\n",
                names.get(*c).copied().unwrap_or("?"),
                show(l)
            ));
        }
    }
    out
}

/// Ids of the parameters a pretrained checkpoint does not provide (head, gate, mix, localness).
fn fresh_param_ids<B: Backend>(model: &mut SequenceClassifier<B>) -> HashSet<ParamId> {
    param_names(model)
        .into_iter()
        .filter(|(_, name)| !name.starts_with("bert.") || name.contains(".localness."))
        .map(|(id, _)| id)
        .collect()
}

fn param_names<B: Backend>(model: &mut SequenceClassifier<B>) -> Vec<(ParamId, String)> {
    let mut names = ParamNames::default();
    // Collecting names cannot fail.
    let _ = model.visit_params(&mut names, "bert.");
    names.names
}

/// Writes model, optimizer moments (by parameter name) and trainer state.
fn save_checkpoint<B: AutodiffBackend>(
    run: &RunDir,
    name: &str,
    model: &mut SequenceClassifier<B>,
    optim: &BertAdamW<B>,
    state: &TrainerState,
) -> Result<(), TrainError> {
    let mut exporter = ParamExporter::default();
    model.clone().visit_params(&mut exporter, "bert.")?;
    let meta =
        std::collections::HashMap::from([("optimizer_steps".to_string(), optim.steps.to_string())]);
    let model_bytes = write_safetensors(&exporter.tensors, meta.clone())?;
    let mut moments = Vec::new();
    for (id, name) in param_names(model) {
        if let Some(state) = optim.state.get(&id) {
            for (prefix, t) in [("m", &state.m), ("v", &state.v)] {
                let data = t
                    .clone()
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .map_err(|e| TrainError::Invalid(format!("{e:?}")))?;
                moments.push(NamedTensor {
                    name: format!("{prefix}/{name}"),
                    shape: vec![data.len()],
                    data,
                });
            }
        }
    }
    let optimizer_bytes = write_safetensors(&moments, meta)?;
    let state_bytes = serde_json::to_vec_pretty(&serde_json::json!({
        "trainer": state,
        "optimizer_steps": optim.steps,
    }))
    .map_err(|e| TrainError::Invalid(e.to_string()))?;
    run.save_checkpoint(
        name,
        &[
            ("model.safetensors", model_bytes),
            ("optimizer.safetensors", optimizer_bytes),
            ("state.json", state_bytes),
        ],
    )?;
    Ok(())
}

/// Loads a checkpoint written by [`save_checkpoint`]; a missing or damaged file is an error naming it.
fn restore_checkpoint<B: AutodiffBackend>(
    dir: &Path,
    model: &mut SequenceClassifier<B>,
    optim: &mut BertAdamW<B>,
    state: &mut TrainerState,
    device: &B::Device,
) -> Result<(), TrainError> {
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| TrainError::run(&state_path, e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TrainError::run(&state_path, e.to_string()))?;
    *state = serde_json::from_value(value["trainer"].clone())
        .map_err(|e| TrainError::run(&state_path, e.to_string()))?;
    optim.steps = value["optimizer_steps"]
        .as_u64()
        .ok_or_else(|| TrainError::run(&state_path, "no optimizer_steps"))?
        as usize;

    let checkpoint = Checkpoint::from_file(dir.join("model.safetensors"))?;
    model.load_checkpoint(&checkpoint, device)?;
    let missing = crate::export::missing_parameters(model, &checkpoint);
    if !missing.is_empty() {
        return Err(TrainError::run(
            checkpoint.path(),
            format!("checkpoint lacks parameters: {}", missing.join(", ")),
        ));
    }
    let names = param_names(model);
    let moments_path = dir.join("optimizer.safetensors");
    let moments = Checkpoint::from_file(&moments_path)?;
    optim.state.clear();
    for (id, name) in names {
        let get = |prefix: &str| -> Result<Option<Tensor<B::InnerBackend, 1>>, TrainError> {
            match moments.get(&format!("{prefix}/{name}")) {
                Some(sesame_core::checkpoint::StoredTensor::Float { shape, data }) => Ok(Some(
                    Tensor::from_data(TensorData::new(data.clone(), shape.clone()), device),
                )),
                Some(_) => Err(TrainError::run(
                    &moments_path,
                    format!("{prefix}/{name} is not a float tensor"),
                )),
                None => Ok(None),
            }
        };
        match (get("m")?, get("v")?) {
            (Some(m), Some(v)) => {
                optim.state.insert(id, Moments { m, v });
            }
            (None, None) if optim.steps == 0 => {}
            _ => {
                return Err(TrainError::run(
                    &moments_path,
                    format!("optimizer state for `{name}` is missing or incomplete"),
                ))
            }
        }
    }
    Ok(())
}
