//! The method components whose gradients are checked, written once for any autodiff backend: blur, SE gate,
//! sparsegen-lin, MDG, PDG, the localness bias, the exact sigmoid and GELU, the fused attention softmax,
//! residual LayerNorm and dense layer, and ModernBERT's RoPE, sliding window and GeGLU
//! ([`crate::modern_cases`]). sesame-core's gradient tests check each against central finite
//! differences in f64; the GPU-path test checks the chosen backend's f32 gradients of the same functions at the
//! same points against that f64 reference and a directional finite difference in f32.
//!
//! Every case is a scalar function of one flat input (reshaped inside the case), built from fixed
//! pseudo-random numbers only — no parameter comes from a backend's random stream — so that two backends
//! compute exactly the same function.
//!
//! Long: a table of cases, each a short function, that two test binaries share; split, the table would be
//! read in pieces.

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::nn::{LayerNormConfig, Linear};
use burn::tensor::activation::softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::fused::{attention_softmax, dense, residual_layer_norm, SesameBackend};
use sesame_core::methods::guiding::{attention_patterns, mdg_loss, pdg_loss, PatternReduce};
use sesame_core::methods::localness::{LocalnessBias, LocalnessConfig};
use sesame_core::methods::se::LayerAggregator;
use sesame_core::methods::sparsegen::sparsegen_lin;
use sesame_core::{
    Aggregation, AttentionMask, BlurBoundary, BlurConfig, LayerAggregationConfig, SeConfig,
    SqueezeMode,
};

/// Deterministic pseudo-random numbers in [-1, 1).
pub fn noise(len: usize, seed: u64) -> Vec<f64> {
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

/// `values` as a tensor of `B`'s float type (converted here: burn-ndarray would keep f64 data as f64 on an f32
/// backend, and the f32 checks would silently run in f64).
pub fn tensor_on<B: burn::tensor::backend::Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let data = TensorData::new(values, shape).convert::<B::FloatElem>();
    Tensor::from_data(data, device)
}

/// A tensor's values as f64, whatever its float type.
pub fn values_f64<B: burn::tensor::backend::Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("converted to f64")
}

/// An attention mask from rows of 0/1.
pub fn mask_on<B: burn::tensor::backend::Backend>(
    rows: Vec<Vec<i64>>,
    device: &B::Device,
) -> AttentionMask<B> {
    let (b, n) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.into_iter().flatten().collect();
    AttentionMask::new(Tensor::<B, 2, Int>::from_data(
        TensorData::new(flat, [b, n]),
        device,
    ))
}

/// `Σ w ⊙ y` with fixed pseudo-random `w`: a scalar whose gradient exercises every output element.
pub fn project<B: burn::tensor::backend::Backend, const D: usize>(
    y: Tensor<B, D>,
    seed: u64,
) -> Tensor<B, 1> {
    let shape = y.dims();
    let n: usize = shape.iter().product();
    let device = y.device();
    (y * tensor_on::<B, D>(noise(n, seed), shape, &device)).sum()
}

/// Evaluates a case at a point: its value and, when asked, autodiff's gradient there.
type Eval<'a, B> = Box<
    dyn Fn(&[f64], bool, &<B as burn::tensor::backend::BackendTypes>::Device) -> (f64, Vec<f64>)
        + 'a,
>;

/// One checked function: a scalar of the input `x0` (flat; `shape` gives its meaning).
pub struct GradCase<'a, B: AutodiffBackend> {
    pub name: String,
    /// The point at which the gradient is checked, flat.
    pub x0: Vec<f64>,
    pub shape: Vec<usize>,
    eval: Eval<'a, B>,
}

impl<'a, B: AutodiffBackend> GradCase<'a, B> {
    /// `f` of an input of `shape` (a leaf tensor, so a case may make it a module parameter).
    pub fn new<const D: usize>(
        name: impl Into<String>,
        x0: Vec<f64>,
        shape: [usize; D],
        f: impl Fn(Tensor<B, D>) -> Tensor<B, 1> + 'a,
    ) -> Self {
        assert_eq!(
            x0.len(),
            shape.iter().product::<usize>(),
            "x0 fits the shape"
        );
        GradCase {
            name: name.into(),
            x0,
            shape: shape.to_vec(),
            eval: Box::new(move |x: &[f64], with_gradient: bool, device| {
                let x = tensor_on::<B, D>(x.to_vec(), shape, device);
                if !with_gradient {
                    return (values_f64(f(x))[0], Vec::new());
                }
                let x = x.require_grad();
                let y = f(x.clone());
                let grads = y.backward();
                let g = x.grad(&grads).expect("the input has a gradient");
                (values_f64(y)[0], values_f64(g))
            }),
        }
    }

    /// The function's value at `x`.
    pub fn value(&self, x: &[f64], device: &B::Device) -> f64 {
        (self.eval)(x, false, device).0
    }

    /// Value and autodiff gradient at `x0`.
    pub fn gradient(&self, device: &B::Device) -> (f64, Vec<f64>) {
        (self.eval)(&self.x0, true, device)
    }
}

/// Replaces every float parameter of a module with fixed pseudo-random values (`scale · noise`), so that a
/// module built on two backends holds the same numbers.
pub(crate) struct FixedParams {
    pub seed: u64,
    pub scale: f64,
}

impl<B: burn::tensor::backend::Backend> ModuleMapper<B> for FixedParams {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.dims();
        let n = shape.iter().product();
        self.seed += 1;
        let values = noise(n, self.seed).iter().map(|v| v * self.scale).collect();
        let fixed = tensor_on::<B, D>(values, shape, &tensor.device());
        Param::from_mapped_value(id, fixed, mapper)
    }
}

fn split_layers<B: burn::tensor::backend::Backend>(x: Tensor<B, 4>) -> Vec<Tensor<B, 3>> {
    let [l, b, n, d] = x.dims();
    (0..l)
        .map(|i| x.clone().narrow(0, i, 1).reshape([b, n, d]))
        .collect()
}

/// Two "layers" of attention maps `[B=2, H=2, n=4, n=4]` from one logit tensor `[2·2, 2, 4, 4]`: softmax rows
/// or, for the key reduction (whose pattern is constant on softmax rows), positive maps whose rows do not sum
/// to one, as after attention dropout.
fn attention_maps<B: burn::tensor::backend::Backend>(
    x: Tensor<B, 4>,
    reduce: PatternReduce,
) -> Vec<Tensor<B, 4>> {
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

/// Every method component's case, built on `device`.
pub fn component_cases<B: AutodiffBackend + SesameBackend>(
    device: &B::Device,
) -> Vec<GradCase<'static, B>> {
    let mut cases = Vec::new();
    blur_cases(device, &mut cases);
    se_cases(device, &mut cases);
    sparsegen_cases(&mut cases);
    guiding_cases(device, &mut cases);
    localness_cases(device, &mut cases);
    cases.push(GradCase::new("sigmoid", noise(6, 1), [2, 3], |x| {
        project(sesame_core::ops::sigmoid(x), 2)
    }));
    // burn's own gelu differentiates the tanh approximation (4e-3 off); sesame's is the exact one.
    let gelu_x0 = noise(12, 3).iter().map(|v| v * 3.0).collect();
    cases.push(GradCase::new("gelu", gelu_x0, [3, 4], |x| {
        project(sesame_core::fused::gelu(x), 4)
    }));
    attention_softmax_cases(device, &mut cases);
    residual_layer_norm_cases(device, &mut cases);
    dense_cases(device, &mut cases);
    crate::modern_cases::modernbert_cases(device, &mut cases);
    crate::modern_cases::deberta_cases(device, &mut cases);
    cases
}

/// The dense layer `x W + b` (sesame's [`dense`] operation): wrt `x` and wrt `W`.
fn dense_cases<B: AutodiffBackend + SesameBackend>(
    device: &B::Device,
    cases: &mut Vec<GradCase<'static, B>>,
) {
    let (rows, d_in, d_out) = (5, 4, 3);
    let bias = tensor_on::<B, 1>(noise(d_out, 41), [d_out], device);
    let layer = move |weight: Tensor<B, 2>| Linear {
        weight: Param::initialized(ParamId::new(), weight),
        bias: Some(Param::initialized(ParamId::new(), bias.clone())),
    };
    let weight0 = noise(d_in * d_out, 42);
    let x0 = noise(rows * d_in, 43);
    let fixed = layer(tensor_on::<B, 2>(weight0.clone(), [d_in, d_out], device));
    cases.push(GradCase::new(
        "dense wrt x",
        x0.clone(),
        [rows, d_in],
        move |x| project(dense(&fixed, x), 44),
    ));
    let x = tensor_on::<B, 2>(x0, [rows, d_in], device);
    cases.push(GradCase::new(
        "dense wrt weight",
        weight0,
        [d_in, d_out],
        move |weight| project(dense(&layer(weight), x.clone()), 45),
    ));
}

/// The fused `LayerNorm(x + residual)` (rows of an odd width 7): wrt `x` (the residual's gradient is the same
/// tensor) and wrt γ.
fn residual_layer_norm_cases<B: AutodiffBackend + SesameBackend>(
    device: &B::Device,
    cases: &mut Vec<GradCase<'static, B>>,
) {
    const EPS: f64 = 1e-5;
    let d = 7;
    let beta = tensor_on::<B, 1>(noise(d, 31), [d], device);
    let layer_norm = move |gamma: Tensor<B, 1>| {
        let mut norm = LayerNormConfig::new(d)
            .with_epsilon(EPS)
            .init::<B>(&gamma.device());
        norm.gamma = Param::initialized(ParamId::new(), gamma);
        norm.beta = Some(Param::initialized(ParamId::new(), beta.clone()));
        norm
    };
    let gamma0: Vec<f64> = noise(d, 32).iter().map(|v| 1.0 + 0.5 * v).collect();
    let x0: Vec<f64> = noise(2 * 3 * d, 33).iter().map(|v| 2.0 * v).collect();
    let residual = tensor_on::<B, 3>(noise(2 * 3 * d, 34), [2, 3, d], device);
    let norm = layer_norm(tensor_on::<B, 1>(gamma0.clone(), [d], device));
    let fixed_residual = residual.clone();
    cases.push(GradCase::new(
        "residual LayerNorm wrt x",
        x0.clone(),
        [2, 3, d],
        move |x| {
            project(
                residual_layer_norm(x, fixed_residual.clone(), &norm, EPS),
                35,
            )
        },
    ));
    let x = tensor_on::<B, 3>(x0, [2, 3, d], device);
    cases.push(GradCase::new(
        "residual LayerNorm wrt gamma",
        gamma0,
        [d],
        move |gamma| {
            let norm = layer_norm(gamma);
            project(
                residual_layer_norm(x.clone(), residual.clone(), &norm, EPS),
                36,
            )
        },
    ));
}

/// The fused `softmax(scores / √d + bias)`: wrt the scores under a padding mask (odd length, one padded row),
/// and wrt a learned bias, full or broadcast over heads.
fn attention_softmax_cases<B: AutodiffBackend + SesameBackend>(
    device: &B::Device,
    cases: &mut Vec<GradCase<'static, B>>,
) {
    let mask = mask_on::<B>(vec![vec![1, 1, 1, 1, 1], vec![1, 1, 1, 0, 0]], device);
    let divisor = 8f64.sqrt();
    let scores0: Vec<f64> = noise(2 * 2 * 3 * 5, 21).iter().map(|v| v * 4.0).collect();
    let padding = mask.bias();
    cases.push(GradCase::new(
        "attention softmax wrt scores",
        scores0.clone(),
        [2, 2, 3, 5],
        move |scores| project(attention_softmax(scores, padding.clone(), divisor), 22),
    ));
    for (label, heads) in [("full", 2), ("broadcast over heads", 1)] {
        let scores = tensor_on::<B, 4>(scores0.clone(), [2, 2, 3, 5], device);
        let padding = mask.bias();
        cases.push(GradCase::new(
            format!("attention softmax wrt a learned bias, {label}"),
            noise(2 * heads * 3 * 5, 23),
            [2, heads, 3, 5],
            move |bias| {
                let bias = bias + padding.clone();
                project(attention_softmax(scores.clone(), bias, divisor), 24)
            },
        ));
    }
}

fn blur_cases<B: AutodiffBackend>(device: &B::Device, cases: &mut Vec<GradCase<'static, B>>) {
    let padded = BlurConfig {
        sigma: 0.5,
        ..BlurConfig::default()
    }
    .blur();
    let full = mask_on::<B>(vec![vec![1; 5], vec![1; 5]], device);
    cases.push(GradCase::new(
        "blur padded_end k3",
        noise(30, 1),
        [2, 5, 3],
        move |x| project(padded.forward(x, &full).expect("blur"), 2),
    ));
    let true_end = BlurConfig {
        kernel_size: 5,
        sigma: 0.8,
        boundary: BlurBoundary::TrueEnd,
        ..BlurConfig::default()
    }
    .blur();
    let ragged = mask_on::<B>(vec![vec![1, 1, 1, 1, 0], vec![1, 1, 1, 0, 0]], device);
    cases.push(GradCase::new(
        "blur true_end k5",
        noise(30, 3),
        [2, 5, 3],
        move |x| project(true_end.forward(x, &ragged).expect("blur"), 4),
    ));
}

fn se_cases<B: AutodiffBackend>(device: &B::Device, cases: &mut Vec<GradCase<'static, B>>) {
    let (l, b, n, d) = (6, 2, 4, 3);
    for (squeeze, aggregation) in [
        (SqueezeMode::MaskedMean, Aggregation::WeightedAverage),
        (SqueezeMode::UnmaskedPadded, Aggregation::Last),
        (SqueezeMode::MaskedMean, Aggregation::ScalarMix),
        (SqueezeMode::Projected, Aggregation::Last),
    ] {
        let config = LayerAggregationConfig {
            se: Some(SeConfig {
                squeeze,
                ..SeConfig::default()
            }),
            aggregation,
        };
        let mut agg = LayerAggregator::<B>::new(l, d, &config, device).expect("aggregator");
        // Fixed weights with both bottleneck units active, so W₁ gets a gradient (biases are constants).
        let w1: Vec<f64> = noise(l * 2, 13).iter().map(|v| 0.3 * v + 0.2).collect();
        if let Some(se) = agg.se.as_mut() {
            se.bottleneck_fc.weight = Param::from_tensor(tensor_on(w1.clone(), [l, 2], device));
            se.recover_fc.weight = Param::from_tensor(tensor_on(noise(2 * l, 14), [2, l], device));
            // The projected squeeze's directions too: nothing may come from a backend's random stream.
            if let Some(u) = se.squeeze_projection.as_mut() {
                *u = Param::from_tensor(tensor_on(noise(l * d, 15), [l, d], device));
            }
        }
        // Layer means must reach the ReLU's active side for a useful check: an offset per layer.
        let x0: Vec<f64> = noise(l * b * n * d, 5)
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i / (b * n * d)) as f64 * 0.3)
            .collect();
        let mask = mask_on::<B>(vec![vec![1, 1, 1, 0], vec![1, 1, 1, 1]], device);
        let (gate, m) = (agg.clone(), mask.clone());
        cases.push(GradCase::new(
            format!("SE {squeeze:?} {aggregation:?} wrt layers"),
            x0.clone(),
            [l, b, n, d],
            move |x| project(gate.forward(&split_layers(x), &m).sequence, 6),
        ));
        let layers = split_layers(tensor_on::<B, 4>(x0, [l, b, n, d], device));
        cases.push(GradCase::new(
            format!("SE {squeeze:?} {aggregation:?} wrt W1"),
            w1,
            [l, 2],
            move |w| {
                let mut agg = agg.clone();
                if let Some(se) = agg.se.as_mut() {
                    se.bottleneck_fc.weight = Param::from_tensor(w);
                }
                project(agg.forward(&layers, &mask).sequence, 6)
            },
        ));
    }
}

fn sparsegen_cases<B: AutodiffBackend>(cases: &mut Vec<GradCase<'static, B>>) {
    // Well-separated logits so that a small step never moves an element across the threshold.
    let logits: Vec<f64> = (0..18)
        .map(|i| ((i * 7 % 18) as f64) * 0.31 - 2.0)
        .collect();
    for (lambda, scale) in [(0.0, 1.0), (-2.0, 1.0), (0.4, 0.3)] {
        let x0 = logits.iter().map(|v| v * scale).collect();
        cases.push(GradCase::new(
            format!("sparsegen-lin λ={lambda}"),
            x0,
            [3, 6],
            move |x| project(sparsegen_lin(x, lambda), 7),
        ));
    }
}

fn guiding_cases<B: AutodiffBackend>(device: &B::Device, cases: &mut Vec<GradCase<'static, B>>) {
    let shape = [4, 2, 4, 4];
    let mask = mask_on::<B>(vec![vec![1, 1, 1, 0], vec![1, 1, 1, 1]], device);
    for reduce in [PatternReduce::Queries, PatternReduce::Keys] {
        let m = mask.clone();
        cases.push(GradCase::new(
            format!("MDG {reduce:?}"),
            noise(128, 8),
            shape,
            move |x| {
                mdg_loss(
                    attention_patterns(&attention_maps(x, reduce), Some(&m), reduce),
                    2.0,
                )
            },
        ));
        let m = mask.clone();
        cases.push(GradCase::new(
            format!("PDG {reduce:?} masked"),
            noise(128, 9),
            shape,
            move |x| {
                pdg_loss(
                    attention_patterns(&attention_maps(x, reduce), Some(&m), reduce),
                    Some(&m),
                )
            },
        ));
        cases.push(GradCase::new(
            format!("PDG {reduce:?} unmasked"),
            noise(128, 10),
            shape,
            move |x| {
                pdg_loss(
                    attention_patterns(&attention_maps(x, reduce), None, reduce),
                    None,
                )
            },
        ));
    }
}

fn localness_cases<B: AutodiffBackend>(device: &B::Device, cases: &mut Vec<GradCase<'static, B>>) {
    let mask = mask_on::<B>(vec![vec![1, 1, 1, 1, 0]], device);
    for predict_window in [true, false] {
        let config = LocalnessConfig {
            predict_window,
            ..LocalnessConfig::default()
        };
        let bias = LocalnessBias::<B>::new(4, &config, 0.5, device).map(&mut FixedParams {
            seed: 100,
            scale: 0.5,
        });
        let q0 = noise(40, 11);
        let (b, m) = (bias.clone(), mask.clone());
        cases.push(GradCase::new(
            format!("localness predict_window={predict_window} wrt q"),
            q0.clone(),
            [1, 2, 5, 4],
            move |q| project(b.forward(q, &m), 12),
        ));
        let q = tensor_on::<B, 4>(q0, [1, 2, 5, 4], device);
        let w0 = values_f64(bias.position_fc.weight.val());
        let m = mask.clone();
        cases.push(GradCase::new(
            format!("localness predict_window={predict_window} wrt W_p"),
            w0,
            [4, 4],
            move |w| {
                let mut bias = bias.clone();
                bias.position_fc.weight = Param::from_tensor(w);
                project(bias.forward(q.clone(), &m), 12)
            },
        ));
    }
}
