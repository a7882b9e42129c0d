//! Timing a step: the warm-up, rounds of steps between device synchronisations, and the training step that
//! `sesame finetune` runs, on synthetic batches.

use std::collections::HashSet;
use std::time::Instant;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::ops::host::sync;
use sesame_core::{BertInput, EncoderConfig, SequenceClassifier, SesameAutodiffBackend, Targets};
use sesame_train::loss_scale::LossScale;
use sesame_train::optim::{AdamWConfig, BertAdamW, StepRates};
use sesame_train::step::{MicroBatch, TrainStep};

use super::BenchSpec;
use crate::error::SesameError;

/// Times `step`: `spec.warmup` calls, then `spec.repeats` rounds of `spec.steps` calls, the device synchronised
/// after the warm-up and after each round. Returns the seconds from `started` to the end of the warm-up and the
/// seconds per step of each round.
pub(super) fn time_steps<B: SesameAutodiffBackend>(
    spec: &BenchSpec,
    device: &B::Device,
    started: Instant,
    mut step: impl FnMut() -> Result<(), SesameError>,
) -> Result<(f64, Vec<f64>), SesameError> {
    for _ in 0..spec.warmup {
        step()?;
    }
    sync::<B>(device)?;
    let startup_seconds = started.elapsed().as_secs_f64();
    let mut per_step = Vec::with_capacity(spec.repeats);
    for _ in 0..spec.repeats {
        let t0 = Instant::now();
        for _ in 0..spec.steps {
            step()?;
        }
        sync::<B>(device)?;
        per_step.push(t0.elapsed().as_secs_f64() / spec.steps as f64);
    }
    Ok((startup_seconds, per_step))
}

/// [`time_steps`] of the training step `sesame finetune` runs ([`TrainStep`]: loss, backward, AdamW update) on
/// synthetic batches with alternating labels.
pub(super) fn time_training<B: SesameAutodiffBackend>(
    spec: &BenchSpec,
    config: &EncoderConfig,
    device: &B::Device,
    started: Instant,
) -> Result<(f64, Vec<f64>), SesameError> {
    let (b, n) = (spec.batch, spec.seq_len);
    let mut model = Some(SequenceClassifier::<B>::new(
        config,
        &spec.variant.config(2),
        device,
    )?);
    let mut train_step = TrainStep::new(
        BertAdamW::<B>::new(AdamWConfig::default()),
        HashSet::new(),
        1,
    );
    let mut loss_scale = spec.precision.scales_loss().then(LossScale::default);
    let rates = StepRates {
        lr: 1e-5,
        fresh_lr: 1e-5,
    };
    let labels: Vec<i64> = (0..b as i64).map(|i| i % 2).collect();
    time_steps::<B>(spec, device, started, || {
        // The model is taken for the step and put back after it; an error ends the benchmark.
        let current = model.take().expect("each step puts the model back");
        let micro = MicroBatch {
            input: synthetic_input::<B>(b, n, config.vocab_size(), device),
            targets: Targets::Classes(Tensor::<B, 1, Int>::from_data(
                TensorData::new(labels.clone(), [b]),
                device,
            )),
            rows: None,
        };
        let loss = TrainStep::loss(&current, micro)?;
        train_step.backward(&current, loss, loss_scale.as_ref());
        model = Some(
            train_step
                .update(current, rates, loss_scale.as_mut())?
                .model,
        );
        Ok(())
    })
}

/// Deterministic token ids `[b, n]`, all real (no padding), two segments.
pub(super) fn synthetic_input<B: Backend>(
    b: usize,
    n: usize,
    vocab: usize,
    device: &B::Device,
) -> BertInput<B> {
    let ids: Vec<i64> = (0..b * n)
        .map(|i| 1000 + (i as i64 * 7919) % (vocab as i64 - 1000).max(1))
        .collect();
    let types: Vec<i64> = (0..b * n).map(|i| i64::from(i % n >= n / 2)).collect();
    let t = |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [b, n]), device);
    BertInput {
        input_ids: t(ids),
        token_type_ids: t(types),
        attention_mask: t(vec![1; b * n]),
    }
}

pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}
