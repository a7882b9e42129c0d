//! Times the parts of one training step (forward + loss, backward, AdamW update) of the MiniLM shape with
//! random weights, batch 32 × 128, on the chosen backend. Numbers go into docs/performance.md.
//!
//! ```sh
//! cargo run --release --example step_profile
//! SESAME_NO_HIDDEN_DROPOUT=1 SESAME_NO_ATTENTION_DROPOUT=1 cargo run --release --example step_profile
//! ```

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::{Int, Tensor, TensorData};
use sesame::backend::{self, AutodiffBackend as AD, Backend as Inner};
use sesame::core::{BertInput, SequenceClassifier, SesameConfig, Targets};
use sesame::train::optim::{AdamWConfig, BertAdamW, StepRates};
use sesame::train::step::{MicroBatch, TrainStep};
use sesame::BertConfig;

fn input<B: burn::tensor::backend::Backend>(
    b: usize,
    n: usize,
    device: &B::Device,
) -> BertInput<B> {
    let ids: Vec<i64> = (0..b * n)
        .map(|i| 1000 + (i as i64 * 7919) % 20000)
        .collect();
    let t = |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [b, n]), device);
    BertInput {
        input_ids: t(ids),
        token_type_ids: t(vec![0; b * n]),
        attention_mask: t(vec![1; b * n]),
    }
}

fn main() {
    sesame::alloc::tune_allocator();
    let device = backend::device();
    let (b, n) = (32usize, 128usize);
    let mut config = BertConfig::minilm_l6();
    if std::env::var_os("SESAME_NO_HIDDEN_DROPOUT").is_some() {
        config.hidden_dropout_prob = 0.0;
    }
    if std::env::var_os("SESAME_NO_ATTENTION_DROPOUT").is_some() {
        config.attention_probs_dropout_prob = 0.0;
    }
    let mut model =
        SequenceClassifier::<AD>::new(&config, &SesameConfig::baseline(2), &device).expect("model");
    let mut step = TrainStep::new(
        BertAdamW::<AD>::new(AdamWConfig::default()),
        Default::default(),
        1,
    );
    let rates = StepRates {
        lr: 1e-5,
        fresh_lr: 1e-5,
    };
    for it in 0..4 {
        let targets = Targets::Classes(Tensor::<AD, 1, Int>::from_data(
            TensorData::new(vec![1i64; b], [b]),
            &device,
        ));
        let t0 = Instant::now();
        let micro = MicroBatch {
            input: input(b, n, &device),
            targets,
            rows: None,
        };
        let loss = TrainStep::loss(&model, micro).expect("forward");
        let _ = loss.clone().into_data();
        let t1 = Instant::now();
        step.backward(&model, loss, None);
        let t2 = Instant::now();
        let update = step.update(model, rates, None).expect("update");
        model = update.model;
        let _ = update.norm.map(|n| n.into_data());
        if let sesame_core::SequenceHead::Bert(head) = &model.classifier {
            let _ = head.out_proj.weight.val().into_data();
        }
        let t3 = Instant::now();
        println!(
            "step {it}: forward {:.2} s, backward {:.2} s, optimizer {:.2} s",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64()
        );
    }
    let inner = model.valid();
    let t0 = Instant::now();
    let _ = inner
        .forward(input::<Inner>(b, n, &device))
        .expect("forward")
        .logits
        .into_data();
    println!(
        "inference forward {:.2} s ({} backend)",
        t0.elapsed().as_secs_f64(),
        backend::NAME
    );
}
