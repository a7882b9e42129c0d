//! Gradient checks against central finite differences, in f64 (`Autodiff<NdArray<f64>>`), for every
//! component that adds computation to BERT: blur, SE gate, sparsegen-lin, MDG, PDG and the localness bias.

use burn::backend::{Autodiff, NdArray};
use burn::module::Param;
use burn::tensor::activation::softmax;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::methods::guiding::{attention_patterns, mdg_loss, pdg_loss, PatternReduce};
use sesame_core::methods::localness::{LocalnessBias, LocalnessConfig};
use sesame_core::methods::se::LayerAggregator;
use sesame_core::methods::sparsegen::sparsegen_lin;
use sesame_core::{
    Aggregation, AttentionMask, BlurBoundary, BlurConfig, LayerAggregationConfig, SeConfig,
    SqueezeMode,
};

type AD = Autodiff<NdArray<f64>>;

fn dev() -> <AD as burn::tensor::backend::BackendTypes>::Device {
    Default::default()
}

/// Deterministic pseudo-random numbers in [-1, 1).
fn noise(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

fn tensor<const D: usize>(data: Vec<f64>, shape: [usize; D]) -> Tensor<AD, D> {
    Tensor::from_data(TensorData::new(data, shape), &dev())
}

fn scalar(t: Tensor<AD, 1>) -> f64 {
    t.into_data().to_vec::<f64>().expect("f64")[0]
}

fn mask(rows: Vec<Vec<i64>>) -> AttentionMask<AD> {
    let (b, n) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.into_iter().flatten().collect();
    AttentionMask::new(Tensor::<AD, 2, Int>::from_data(
        TensorData::new(flat, [b, n]),
        &dev(),
    ))
}

/// `Σ w ⊙ y` with fixed pseudo-random `w`: a scalar whose gradient exercises every output element.
fn project<const D: usize>(y: Tensor<AD, D>, seed: u64) -> Tensor<AD, 1> {
    let shape = y.dims();
    let n: usize = shape.iter().product();
    (y * tensor(noise(n, seed), shape)).sum()
}

/// Compares autodiff's gradient of `f` at `x0` with central differences on every element.
fn check<const D: usize>(
    name: &str,
    x0: Vec<f64>,
    shape: [usize; D],
    f: impl Fn(Tensor<AD, D>) -> Tensor<AD, 1>,
) {
    let x = tensor(x0.clone(), shape).require_grad();
    let grads = f(x.clone()).backward();
    let analytic = x
        .grad(&grads)
        .expect("input has a gradient")
        .into_data()
        .to_vec::<f64>()
        .expect("f64");
    let h = 1e-6;
    let mut worst = 0f64;
    for i in 0..x0.len() {
        let at = |delta: f64| {
            let mut v = x0.clone();
            v[i] += delta;
            scalar(f(tensor(v, shape)))
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        let err = (analytic[i] - numeric).abs() / numeric.abs().max(1.0);
        worst = worst.max(err);
        assert!(
            err < 1e-6,
            "{name}[{i}]: autodiff {} vs finite difference {numeric}",
            analytic[i]
        );
    }
    let largest = analytic.iter().fold(0f64, |m, g| m.max(g.abs()));
    assert!(
        largest > 1e-3,
        "{name}: the gradient is (near) zero, the check would prove nothing"
    );
    eprintln!(
        "{name}: {} elements, max relative error {worst:.2e}",
        x0.len()
    );
}

#[test]
fn gaussian_blur_gradient() {
    let shape = [2, 5, 3];
    let padded = BlurConfig {
        sigma: 0.5,
        ..BlurConfig::default()
    }
    .blur();
    let full = mask(vec![vec![1; 5], vec![1; 5]]);
    check("blur padded_end k3", noise(30, 1), shape, |x| {
        project(padded.forward(x, &full).expect("blur"), 2)
    });
    let true_end = BlurConfig {
        kernel_size: 5,
        sigma: 0.8,
        boundary: BlurBoundary::TrueEnd,
        ..BlurConfig::default()
    }
    .blur();
    let ragged = mask(vec![vec![1, 1, 1, 1, 0], vec![1, 1, 1, 0, 0]]);
    check("blur true_end k5", noise(30, 3), shape, |x| {
        project(true_end.forward(x, &ragged).expect("blur"), 4)
    });
}

fn split_layers(x: Tensor<AD, 4>) -> Vec<Tensor<AD, 3>> {
    let [l, b, n, d] = x.dims();
    (0..l)
        .map(|i| x.clone().narrow(0, i, 1).reshape([b, n, d]))
        .collect()
}

#[test]
fn se_gate_gradient_wrt_layers_and_weights() {
    let (l, b, n, d) = (6, 2, 4, 3);
    let m = mask(vec![vec![1, 1, 1, 0], vec![1, 1, 1, 1]]);
    for (squeeze, aggregation) in [
        (SqueezeMode::MaskedMean, Aggregation::WeightedAverage),
        (SqueezeMode::UnmaskedPadded, Aggregation::Last),
        (SqueezeMode::MaskedMean, Aggregation::ScalarMix),
    ] {
        let config = LayerAggregationConfig {
            se: Some(SeConfig {
                squeeze,
                ..SeConfig::default()
            }),
            aggregation,
        };
        let mut agg = LayerAggregator::<AD>::new(l, &config, &dev()).expect("aggregator");
        // Fixed weights (not the backend's shared RNG) with both bottleneck units active, so the check is
        // deterministic and W₁ gets a gradient.
        if let Some(se) = agg.se.as_mut() {
            let w1: Vec<f64> = noise(l * 2, 13).iter().map(|v| 0.3 * v + 0.2).collect();
            se.bottleneck_fc.weight = Param::from_tensor(tensor(w1, [l, 2]));
            se.recover_fc.weight = Param::from_tensor(tensor(noise(2 * l, 14), [2, l]));
        }
        // Layer means must reach the ReLU's active side for a useful check: add an offset per layer.
        let x0: Vec<f64> = noise(l * b * n * d, 5)
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i / (b * n * d)) as f64 * 0.3)
            .collect();
        let name = format!("SE {squeeze:?} {aggregation:?} wrt layers");
        check(&name, x0.clone(), [l, b, n, d], |x| {
            project(agg.forward(&split_layers(x), &m).sequence, 6)
        });

        let layers = split_layers(tensor(x0, [l, b, n, d]));
        let w0 = agg.se.as_ref().expect("gate").bottleneck_fc.weight.val();
        let [rows, cols] = w0.dims();
        let w_init = w0.into_data().to_vec::<f64>().expect("f64");
        check(
            &format!("SE {squeeze:?} {aggregation:?} wrt W1"),
            w_init,
            [rows, cols],
            |w| {
                let mut agg = agg.clone();
                if let Some(se) = agg.se.as_mut() {
                    se.bottleneck_fc.weight = Param::from_tensor(w);
                }
                project(agg.forward(&layers, &m).sequence, 6)
            },
        );
    }
}

#[test]
fn sparsegen_lin_gradient() {
    // Well-separated logits so that ±1e-6 never moves an element across the threshold.
    let x0: Vec<f64> = (0..18)
        .map(|i| ((i * 7 % 18) as f64) * 0.31 - 2.0)
        .collect();
    for (lambda, scale) in [(0.0, 1.0), (-2.0, 1.0), (0.4, 0.3)] {
        let x0: Vec<f64> = x0.iter().map(|v| v * scale).collect();
        check(&format!("sparsegen-lin λ={lambda}"), x0, [3, 6], |x| {
            project(sparsegen_lin(x, lambda), 7)
        });
    }
}

/// Two "layers" of attention maps `[B=2, H=2, n=4, n=4]` from one logit tensor `[2·2, 2, 4, 4]`: softmax rows
/// or, for the key reduction (whose pattern is constant on softmax rows), positive maps whose rows do not sum
/// to one, as after attention dropout.
fn attention_maps(x: Tensor<AD, 4>, reduce: PatternReduce) -> Vec<Tensor<AD, 4>> {
    let [lb, h, n, _] = x.dims();
    let b = lb / 2;
    (0..2)
        .map(|l| {
            let logits = x.clone().narrow(0, l * b, b).reshape([b, h, n, n]);
            match reduce {
                PatternReduce::Queries => softmax(logits, 3),
                PatternReduce::Keys => logits.exp(),
            }
        })
        .collect()
}

#[test]
fn mdg_and_pdg_gradients() {
    let shape = [4, 2, 4, 4];
    let m = mask(vec![vec![1, 1, 1, 0], vec![1, 1, 1, 1]]);
    for reduce in [PatternReduce::Queries, PatternReduce::Keys] {
        check(&format!("MDG {reduce:?}"), noise(128, 8), shape, |x| {
            mdg_loss(
                attention_patterns(&attention_maps(x, reduce), Some(&m), reduce),
                2.0,
            )
        });
        check(
            &format!("PDG {reduce:?} masked"),
            noise(128, 9),
            shape,
            |x| {
                pdg_loss(
                    attention_patterns(&attention_maps(x, reduce), Some(&m), reduce),
                    Some(&m),
                )
            },
        );
        check(
            &format!("PDG {reduce:?} unmasked"),
            noise(128, 10),
            shape,
            |x| {
                pdg_loss(
                    attention_patterns(&attention_maps(x, reduce), None, reduce),
                    None,
                )
            },
        );
    }
}

#[test]
fn localness_bias_gradient() {
    let m = mask(vec![vec![1, 1, 1, 1, 0]]);
    for predict_window in [true, false] {
        let config = LocalnessConfig {
            predict_window,
            ..LocalnessConfig::default()
        };
        let bias = LocalnessBias::<AD>::new(4, &config, 0.5, &dev());
        let q0 = noise(40, 11);
        check(
            &format!("localness predict_window={predict_window} wrt q"),
            q0.clone(),
            [1, 2, 5, 4],
            |q| project(bias.forward(q, &m), 12),
        );
        let q = tensor(q0, [1, 2, 5, 4]);
        let w0 = bias
            .position_fc
            .weight
            .val()
            .into_data()
            .to_vec::<f64>()
            .expect("f64");
        check(
            &format!("localness predict_window={predict_window} wrt W_p"),
            w0,
            [4, 4],
            |w| {
                let mut bias = bias.clone();
                bias.position_fc.weight = Param::from_tensor(w);
                project(bias.forward(q.clone(), &m), 12)
            },
        );
    }
}

#[test]
fn sigmoid_keeps_f64_precision() {
    // burn's own sigmoid computes in f32; sesame's keeps the element type, which this check needs.
    check("sigmoid", noise(6, 1), [2, 3], |x| {
        project(sesame_core::bert::ops::sigmoid(x), 2)
    });
}

/// The whole classifier (embeddings, masked attention, LayerNorm, GELU, pooler, head, cross-entropy) against
/// finite differences, so that a wrong backward anywhere in the stack — ours or the backend's — shows up.
#[test]
fn whole_classifier_gradient_wrt_attention_and_layer_norm_weights() {
    use sesame_core::{BertConfig, BertInput, SequenceClassifier, SesameConfig, Targets};

    let mut config = BertConfig::with_shape(2, 8, 2, 16);
    config.vocab_size = 20;
    config.max_position_embeddings = 8;
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    // Large weights so that attention is far from uniform and every gradient is well above rounding.
    config.initializer_range = 0.5;
    let mut sesame = SesameConfig::sesamebert(2);
    if let Some(blur) = sesame.attention.blur.as_mut() {
        blur.sigma = 0.5;
    }
    let model = SequenceClassifier::<AD>::new(&config, &sesame, &dev()).expect("model");
    let ids = Tensor::<AD, 2, Int>::from_data(
        TensorData::new(vec![1i64, 5, 7, 2, 1, 9, 2, 0], [2, 4]),
        &dev(),
    );
    let types = Tensor::<AD, 2, Int>::from_data(
        TensorData::new(vec![0i64, 0, 1, 1, 0, 0, 1, 0], [2, 4]),
        &dev(),
    );
    let mask_ids = Tensor::<AD, 2, Int>::from_data(
        TensorData::new(vec![1i64, 1, 1, 1, 1, 1, 1, 0], [2, 4]),
        &dev(),
    );
    let loss_of = |model: &SequenceClassifier<AD>| {
        let input = BertInput {
            input_ids: ids.clone(),
            token_type_ids: types.clone(),
            attention_mask: mask_ids.clone(),
        };
        let out = model.forward(input).expect("forward");
        let targets = Targets::Classes(Tensor::<AD, 1, Int>::from_data(
            TensorData::new(vec![1i64, 0], [2]),
            &dev(),
        ));
        model.loss(&out, targets).expect("loss")
    };

    let q0 = model.bert.encoder.layer[0]
        .attention
        .self_attention
        .query
        .weight
        .val();
    let q_init = q0.into_data().to_vec::<f64>().expect("f64");
    check("classifier wrt layer-0 query weight", q_init, [8, 8], |w| {
        let mut m = model.clone();
        m.bert.encoder.layer[0]
            .attention
            .self_attention
            .query
            .weight = Param::from_tensor(w);
        loss_of(&m)
    });
    let ff0 = model.bert.encoder.layer[1].intermediate.dense.weight.val();
    let ff_init = ff0.into_data().to_vec::<f64>().expect("f64");
    check("classifier wrt layer-1 FFN weight", ff_init, [8, 16], |w| {
        let mut m = model.clone();
        m.bert.encoder.layer[1].intermediate.dense.weight = Param::from_tensor(w);
        loss_of(&m)
    });
    let g0 = model.bert.embeddings.layer_norm.gamma.val();
    let g_init = g0.into_data().to_vec::<f64>().expect("f64");
    check(
        "classifier wrt embedding LayerNorm weight",
        g_init,
        [8],
        |g| {
            let mut m = model.clone();
            m.bert.embeddings.layer_norm.gamma = Param::from_tensor(g);
            loss_of(&m)
        },
    );
    let e0 = model.bert.embeddings.word_embeddings.weight.val();
    let e_init = e0.into_data().to_vec::<f64>().expect("f64");
    check("classifier wrt word embeddings", e_init, [20, 8], |e| {
        let mut m = model.clone();
        m.bert.embeddings.word_embeddings.weight = Param::from_tensor(e);
        loss_of(&m)
    });
}

#[test]
fn exact_gelu_gradient() {
    // burn's own gelu differentiates the tanh approximation and fails this check at 4e-3.
    check(
        "gelu",
        noise(12, 3).iter().map(|v| v * 3.0).collect(),
        [3, 4],
        |x| project(sesame_core::bert::ops::gelu(x), 4),
    );
}
