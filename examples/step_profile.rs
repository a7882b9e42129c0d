use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use sesame::backend::AutodiffBackend as AD;
use sesame::core::{BertInput, SequenceClassifier, SesameConfig, Targets};
use sesame::train::optim::{AdamWConfig, BertAdamW, StepRates};
use sesame::BertConfig;
use std::time::Instant;

fn main() {
    let device = Default::default();
    let (b, n) = (32usize, 128usize);
    let mut cfg = BertConfig::minilm_l6();
    if std::env::var("NOHID").is_ok() {
        cfg.hidden_dropout_prob = 0.0;
    }
    if std::env::var("NOATT").is_ok() {
        cfg.attention_probs_dropout_prob = 0.0;
    }
    let mut model =
        SequenceClassifier::<AD>::new(&cfg, &SesameConfig::baseline(2), &device).unwrap();
    let ids: Vec<i64> = (0..b * n)
        .map(|i| 1000 + (i as i64 * 7919) % 20000)
        .collect();
    let t = |v: Vec<i64>| Tensor::<AD, 2, Int>::from_data(TensorData::new(v, [b, n]), &device);
    let mut optim = BertAdamW::<AD>::new(AdamWConfig::default());
    for it in 0..4 {
        let input = BertInput {
            input_ids: t(ids.clone()),
            token_type_ids: t(vec![0; b * n]),
            attention_mask: t(vec![1; b * n]),
        };
        let targets = Targets::Classes(Tensor::<AD, 1, Int>::from_data(
            TensorData::new(vec![1i64; b], [b]),
            &device,
        ));
        let t0 = Instant::now();
        let out = model.forward(input).unwrap();
        let loss = model.loss(&out, targets).unwrap();
        let _ = loss.clone().into_data();
        let t1 = Instant::now();
        let grads = loss.backward();
        let grads = GradientsParams::from_grads(grads, &model);
        let t2 = Instant::now();
        let (m, norm) = optim.step(
            model,
            grads,
            StepRates {
                lr: 1e-5,
                fresh_lr: 1e-5,
            },
            &Default::default(),
        );
        model = m;
        let _ = norm.unwrap().into_data();
        let _ = model.classifier.weight.val().into_data();
        let t3 = Instant::now();
        eprintln!(
            "iter {it}: forward {:.2}s backward {:.2}s optimizer {:.2}s",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64()
        );
    }
    let inner = model.valid();
    let input = BertInput::<<AD as burn::tensor::backend::AutodiffBackend>::InnerBackend> {
        input_ids: Tensor::from_data(TensorData::new(ids.clone(), [b, n]), &device),
        token_type_ids: Tensor::from_data(TensorData::new(vec![0i64; b * n], [b, n]), &device),
        attention_mask: Tensor::from_data(TensorData::new(vec![1i64; b * n], [b, n]), &device),
    };
    let t0 = Instant::now();
    let _ = inner.forward(input).unwrap().logits.into_data();
    eprintln!("inference forward {:.2}s", t0.elapsed().as_secs_f64());
    let _ = <AD as Backend>::name(&device);
}
