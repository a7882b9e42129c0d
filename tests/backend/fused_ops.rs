//! sesame's fused operations (`sesame_core::fused`) against the ops they replace, on the backend the cargo
//! features choose: values and the gradient of every input, in f32, on pseudo-random inputs of odd shapes and
//! padded rows. On flex (the default) this compares the CPU kernels with burn's composed ops; on the GPU
//! backends, the one-node autodiff operations (composed inside) with burn's own graph of the same ops.
//!
//! Tolerances: probabilities, GELU, LayerNorm, dense-layer and attention-product values within 2e-6 absolute
//! (+ 2e-6 relative), gradients within 1e-5 of the largest gradient element. The kernels sum in another order than burn's reductions and use a
//! vectorised `exp`/`erf` (`exp` ~1e-7 relative, `erf` 5.1e-7 absolute), so they are not bit-identical.
//!
//! Long: one test per fused operation (values and every input's gradient), with their shared inputs.

use burn::module::{AutodiffModule, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Int, Tensor, TensorData, TensorPrimitive};
use sesame::backend::{self, AutodiffBackend};
use sesame_core::deberta::relative::{relative_rows, rows_read};
use sesame_core::fused::{
    attention_context, attention_scores, attention_softmax, composed, dense, geglu, gelu,
    layer_norm, relative_gather, residual_layer_norm, rope, Products,
};
use sesame_core::modernbert::rope::rope_tables;
use sesame_core::AttentionMask;
use sesame_testkit::gradient_cases::noise;

type AD = AutodiffBackend;

fn composed_softmax(scores: Tensor<AD, 4>, bias: Tensor<AD, 4>, divisor: f64) -> Tensor<AD, 4> {
    let out = composed::attention_softmax::<AD>(
        scores.into_primitive().tensor(),
        bias.into_primitive().tensor(),
        divisor,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

fn composed_gelu(x: Tensor<AD, 3>) -> Tensor<AD, 3> {
    Tensor::from_primitive(TensorPrimitive::Float(composed::exact_gelu::<AD>(
        x.into_primitive().tensor(),
    )))
}

/// burn's `LayerNorm` module on `x + residual`: the ops the model ran before the fused form.
fn composed_residual_layer_norm(
    x: Tensor<AD, 3>,
    residual: Tensor<AD, 3>,
    norm: &LayerNorm<AD>,
) -> Tensor<AD, 3> {
    norm.forward(x + residual)
}

/// A LayerNorm of width `d` with ε `eps` and random γ (around 1) and β.
fn random_layer_norm(
    inputs: &mut Inputs,
    d: usize,
    eps: f64,
    device: &backend::Device,
) -> LayerNorm<AD> {
    let mut norm = LayerNormConfig::new(d).with_epsilon(eps).init::<AD>(device);
    norm.gamma = Param::from_tensor(inputs.random([d], 0.5, device) + 1.0);
    norm.beta = Some(Param::from_tensor(inputs.random([d], 0.5, device)));
    norm
}

fn values<const D: usize>(t: Tensor<AD, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 values")
}

fn assert_close(what: &str, got: &[f32], want: &[f32], abs: f32, rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= abs + rel * w.abs(),
            "{what}: element {i}: fused {g} vs composed {w}"
        );
    }
}

/// Gradients compared relative to the largest element of the reference.
fn assert_gradient_close(what: &str, got: &[f32], want: &[f32]) {
    let scale = want.iter().fold(0.0f32, |a, &b| a.max(b.abs())).max(1e-12);
    assert_close(what, got, want, 1e-5 * scale, 0.0);
}

/// A padding mask with one full row and the others of random shorter lengths (at least one real key each).
fn padding_mask(batch: usize, keys: usize, device: &backend::Device) -> AttentionMask<AD> {
    let mut rows = Vec::with_capacity(batch * keys);
    for b in 0..batch {
        let len = if b == 0 { keys } else { 1 + (b * 7919) % keys };
        rows.extend((0..keys).map(|j| i64::from(j < len)));
    }
    AttentionMask::new(Tensor::<AD, 2, Int>::from_data(
        TensorData::new(rows, [batch, keys]),
        device,
    ))
}

/// Inputs from a fixed pseudo-random sequence (uniform, scaled to standard deviation `scale`), not from the
/// backend's random stream: the same numbers on every run and every backend, and no draw from a stream that another
/// test of this binary may have seeded.
#[derive(Default)]
struct Inputs {
    seed: u64,
}

impl Inputs {
    fn random<const D: usize>(
        &mut self,
        shape: [usize; D],
        scale: f64,
        device: &backend::Device,
    ) -> Tensor<AD, D> {
        self.seed += 1;
        let n = shape.iter().product();
        let values: Vec<f32> = noise(n, self.seed)
            .into_iter()
            .map(|v| (v * scale * 3f64.sqrt()) as f32)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }
}

/// The shapes a test runs: all of them on a host backend; on a GPU backend all but the last, MiniLM-sized one
/// (the kernels whose parallel paths it reaches are the CPU's; on a GPU backend the composed forms run inside the
/// one-node operations, and on a software Vulkan driver that one shape alone takes minutes).
fn shapes<T: Copy>(all: &[T]) -> Vec<T> {
    let keep = if backend::ON_HOST {
        all.len()
    } else {
        all.len() - 1
    };
    all[..keep].to_vec()
}

/// Shapes `[B, H, n, m]`: a single element, odd lengths around the kernels' 16-lane chunks, one row task
/// boundary (32 rows), and a training-sized block.
const SHAPES: [[usize; 4]; 5] = [
    [1, 1, 1, 1],
    [2, 3, 5, 5],
    [3, 2, 17, 17],
    [2, 4, 33, 33],
    [4, 12, 64, 64],
];

#[test]
fn attention_softmax_matches_the_composed_ops_with_a_padding_mask() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for shape in SHAPES {
        let [b, _, _, m] = shape;
        let divisor = 8f64.sqrt();
        let mask = padding_mask(b, m, &device);
        let scores0 = inputs.random(shape, 3.0, &device);
        let upstream = inputs.random(shape, 1.0, &device);

        let scores = scores0.clone().require_grad();
        let fused = attention_softmax(scores.clone(), mask.bias(), divisor);
        let fused_grad = (fused.clone() * upstream.clone()).sum().backward();
        let scores_ref = scores0.require_grad();
        let reference = composed_softmax(scores_ref.clone(), mask.bias(), divisor);
        let reference_grad = (reference.clone() * upstream).sum().backward();

        assert_close(
            &format!("probabilities {shape:?}"),
            &values(fused),
            &values(reference),
            2e-6,
            2e-6,
        );
        assert_gradient_close(
            &format!("d scores {shape:?}"),
            &values(Tensor::from_inner(scores.grad(&fused_grad).expect("grad"))),
            &values(Tensor::from_inner(
                scores_ref.grad(&reference_grad).expect("grad"),
            )),
        );
    }
}

#[test]
fn attention_softmax_differentiates_a_learned_bias_full_or_broadcast() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for shape in SHAPES {
        let [b, h, n, m] = shape;
        let divisor = 5f64.sqrt();
        let mask = padding_mask(b, m, &device);
        for bias_shape in [[b, h, n, m], [b, 1, n, m], [1, h, n, m]] {
            let scores0 = inputs.random(shape, 2.0, &device);
            let bias0 = inputs.random(bias_shape, 1.0, &device);
            let upstream = inputs.random(shape, 1.0, &device);
            let run = |fused: bool| {
                let scores = scores0.clone().require_grad();
                let bias = bias0.clone().require_grad();
                let logits_bias = bias.clone() + mask.bias();
                let probs = if fused {
                    attention_softmax(scores.clone(), logits_bias, divisor)
                } else {
                    composed_softmax(scores.clone(), logits_bias, divisor)
                };
                let grads = (probs.clone() * upstream.clone()).sum().backward();
                let d_scores = Tensor::<AD, 4>::from_inner(scores.grad(&grads).expect("grad"));
                let d_bias = Tensor::<AD, 4>::from_inner(bias.grad(&grads).expect("grad"));
                (values(probs), values(d_scores), values(d_bias))
            };
            let (p, ds, db) = run(true);
            let (p_ref, ds_ref, db_ref) = run(false);
            let what = format!("{shape:?} with bias {bias_shape:?}");
            assert_close(&format!("probabilities {what}"), &p, &p_ref, 2e-6, 2e-6);
            assert_gradient_close(&format!("d scores {what}"), &ds, &ds_ref);
            assert_gradient_close(&format!("d bias {what}"), &db, &db_ref);
        }
    }
}

#[test]
fn gelu_matches_the_composed_ops_in_value_and_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for shape in [[1, 1, 1], [2, 3, 7], [3, 17, 33], [8, 64, 257]] {
        let x0 = inputs.random(shape, 3.0, &device);
        let upstream = inputs.random(shape, 1.0, &device);
        // gelu'(x) = Φ(x) + x·φ(x) is a difference of terms of order 1 near its zero (x ≈ -0.75), so its error is
        // relative to the upstream gradient, not to the result (a single element near that zero has no scale).
        let upstream_scale = values(upstream.clone())
            .iter()
            .fold(0.0f32, |a, &b| a.max(b.abs()));
        let x = x0.clone().require_grad();
        let y = gelu(x.clone());
        let grads = (y.clone() * upstream.clone()).sum().backward();
        let x_ref = x0.require_grad();
        let y_ref = composed_gelu(x_ref.clone());
        let grads_ref = (y_ref.clone() * upstream).sum().backward();
        assert_close(
            &format!("gelu {shape:?}"),
            &values(y),
            &values(y_ref),
            2e-6,
            2e-6,
        );
        assert_close(
            &format!("gelu' {shape:?}"),
            &values(Tensor::from_inner(x.grad(&grads).expect("grad"))),
            &values(Tensor::from_inner(x_ref.grad(&grads_ref).expect("grad"))),
            1e-5 * upstream_scale,
            0.0,
        );
    }
}

/// Shapes `[B, n, d]`: one element, odd widths around the 16-lane chunks, a row-task boundary (16 rows), and
/// MiniLM's training block.
const NORM_SHAPES: [[usize; 3]; 5] = [
    [1, 1, 1],
    [2, 3, 7],
    [3, 17, 33],
    [2, 9, 100],
    [32, 128, 384],
];

#[test]
fn residual_layer_norm_matches_burns_layer_norm_in_value_and_every_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for shape in shapes(&NORM_SHAPES) {
        let d = shape[2];
        let eps = 1e-12;
        let norm = random_layer_norm(&mut inputs, d, eps, &device);
        // An offset mean, as hidden states have, so that the centring matters.
        let x0 = inputs.random(shape, 2.0, &device) + 0.7;
        let residual0 = inputs.random(shape, 1.0, &device);
        let upstream = inputs.random(shape, 1.0, &device);
        let run = |fused: bool| {
            let x = x0.clone().require_grad();
            let residual = residual0.clone().require_grad();
            let y = if fused {
                residual_layer_norm(x.clone(), residual.clone(), &norm, eps)
            } else {
                composed_residual_layer_norm(x.clone(), residual.clone(), &norm)
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let grad = |t: Tensor<AD, 3>| values(Tensor::from_inner(t.grad(&grads).expect("grad")));
            let param_grad = |p: &Param<Tensor<AD, 1>>| {
                values(Tensor::from_inner(p.val().grad(&grads).expect("grad")))
            };
            let beta = norm.beta.as_ref().expect("beta");
            (
                values(y),
                [
                    grad(x),
                    grad(residual),
                    param_grad(&norm.gamma),
                    param_grad(beta),
                ],
            )
        };
        let (y, grads) = run(true);
        let (y_ref, grads_ref) = run(false);
        assert_close(&format!("LayerNorm {shape:?}"), &y, &y_ref, 2e-6, 2e-6);
        for (name, (got, want)) in ["x", "residual", "gamma", "beta"]
            .iter()
            .zip(grads.iter().zip(&grads_ref))
        {
            assert_gradient_close(&format!("d {name} {shape:?}"), got, want);
        }
    }
}

/// The pre-norm form (no residual) of a LayerNorm without β, as ModernBERT's layers have: the fused operation
/// with a zero residual and a zero β against burn's module.
#[test]
fn layer_norm_without_beta_matches_burns_module_in_value_and_every_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for shape in shapes(&NORM_SHAPES) {
        let d = shape[2];
        let eps = 1e-5;
        let mut norm = random_layer_norm(&mut inputs, d, eps, &device);
        norm.beta = None;
        let x0 = inputs.random(shape, 2.0, &device) + 0.7;
        let upstream = inputs.random(shape, 1.0, &device);
        let run = |fused: bool| {
            let x = x0.clone().require_grad();
            let y = if fused {
                layer_norm(x.clone(), &norm, eps)
            } else {
                norm.forward(x.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let gamma = norm.gamma.val().grad(&grads).expect("grad");
            (
                values(y),
                [
                    values(Tensor::from_inner(x.grad(&grads).expect("grad"))),
                    values(Tensor::from_inner(gamma)),
                ],
            )
        };
        let (y, grads) = run(true);
        let (y_ref, grads_ref) = run(false);
        assert_close(&format!("LayerNorm {shape:?}"), &y, &y_ref, 2e-6, 2e-6);
        for (name, (got, want)) in ["x", "gamma"].iter().zip(grads.iter().zip(&grads_ref)) {
            assert_gradient_close(&format!("d {name} {shape:?}"), got, want);
        }
    }
}

/// `[B, n, 2·f]`: one element, odd widths, a row-task boundary, and ModernBERT-base's MLP width (1 152).
const GEGLU_SHAPES: [[usize; 3]; 4] = [[1, 1, 2], [2, 3, 14], [3, 17, 66], [4, 32, 2304]];

/// GeGLU's gate against the composed ops (the two halves taken apart, the composed exact GELU, the product),
/// whose gradient burn's autodiff forms.
#[test]
fn geglu_matches_the_composed_ops_in_value_and_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for shape in shapes(&GEGLU_SHAPES) {
        let [b, n, width] = shape;
        let x0 = inputs.random(shape, 3.0, &device);
        let upstream = inputs.random([b, n, width / 2], 1.0, &device);
        let run = |fused: bool| {
            let x = x0.clone().require_grad();
            let y = if fused {
                geglu(x.clone())
            } else {
                let rows = x.clone().reshape([b * n, width]).into_primitive().tensor();
                let y: Tensor<AD, 2> =
                    Tensor::from_primitive(TensorPrimitive::Float(composed::geglu::<AD>(rows)));
                y.reshape([b, n, width / 2])
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let grad = values(Tensor::from_inner(x.grad(&grads).expect("grad")));
            (values(y), grad)
        };
        let (y, grad) = run(true);
        let (y_ref, grad_ref) = run(false);
        assert_eq!(y.len(), b * n * width / 2);
        assert_close(&format!("GeGLU {shape:?}"), &y, &y_ref, 2e-6, 2e-6);
        assert_gradient_close(&format!("d GeGLU {shape:?}"), &grad, &grad_ref);
    }
}

/// `[B, n, H, d_h]`: one head of width 2, odd lengths and head counts, and ModernBERT-base's attention block.
const ROPE_SHAPES: [[usize; 4]; 4] = [[1, 1, 1, 2], [2, 5, 3, 4], [3, 17, 2, 6], [4, 128, 12, 64]];

/// RoPE against the composed ops, on queries read from the middle third of a fused projection (a strided view,
/// as ModernBERT's `Wqkv` output gives them), with the tables of two bases.
#[test]
fn rope_matches_the_composed_ops_in_value_and_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for ([b, n, heads, d_h], theta) in shapes(&ROPE_SHAPES).into_iter().zip([1e4, 16e4, 1e4, 16e4])
    {
        let d = heads * d_h;
        let (cos, sin) = rope_tables::<AD>(n, d_h, theta, &device);
        let qkv0 = inputs.random([b, n, 3 * d], 2.0, &device);
        let upstream = inputs.random([b, n, d], 1.0, &device);
        let run = |fused: bool| {
            let qkv = qkv0.clone().require_grad();
            let x = qkv.clone().narrow(2, d, d);
            let y = if fused {
                rope(x, &cos, &sin, heads)
            } else {
                let (c, s) = (cos.clone(), sin.clone());
                let y = composed::rope::<AD>(
                    x.into_primitive().tensor(),
                    c.into_primitive().tensor(),
                    s.into_primitive().tensor(),
                    heads,
                );
                Tensor::from_primitive(TensorPrimitive::Float(y))
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let grad = values(Tensor::from_inner(qkv.grad(&grads).expect("grad")));
            (values(y), grad)
        };
        let (y, grad) = run(true);
        let (y_ref, grad_ref) = run(false);
        let what = format!("RoPE [{b}, {n}, {heads}, {d_h}]");
        assert_close(&what, &y, &y_ref, 2e-6, 2e-6);
        assert_gradient_close(&format!("d {what}"), &grad, &grad_ref);
    }
}

/// Relative-position tables `(n, span, buckets, max_position, trimmed)`: a single token, plain clamped
/// distances, log buckets, and DeBERTa-v3-base's table at 128 tokens; untrimmed tables read from all `2k` rows.
const RELATIVE_TABLES: [(usize, usize, Option<usize>, usize, bool); 5] = [
    (1, 1, None, 8, true),
    (5, 2, None, 8, false),
    (17, 8, Some(8), 256, true),
    (33, 8, Some(8), 256, false),
    (128, 256, Some(256), 512, true),
];

/// DeBERTa's relative-position gather, c2p and p2c (transposed), against burn's gather at the full index shape
/// and its scatter-add backward.
#[test]
fn relative_gather_matches_the_composed_ops_in_value_and_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    let heads = [(1, 1), (2, 3), (3, 2), (2, 4), (4, 12)];
    for (&(n, span, buckets, max_position, trimmed), &(b, h)) in
        shapes(&RELATIVE_TABLES).iter().zip(&heads)
    {
        let mut rows = relative_rows(n, span, buckets, max_position);
        let width = if trimmed {
            let read = rows_read(&rows);
            rows.iter_mut().for_each(|r| *r -= read.start as i64);
            read.len()
        } else {
            2 * span
        };
        let rows = Tensor::<AD, 2, Int>::from_data(TensorData::new(rows, [n, n]), &device);
        let scores0 = inputs.random([b, h, n, width], 1.0, &device);
        let upstream = inputs.random([b, h, n, n], 1.0, &device);
        for transposed in [false, true] {
            let run = |fused: bool| {
                let scores = scores0.clone().require_grad();
                let y = if fused {
                    relative_gather(scores.clone(), &rows, transposed)
                } else {
                    Tensor::from_primitive(TensorPrimitive::Float(composed::relative_gather::<AD>(
                        scores.clone().into_primitive().tensor(),
                        rows.clone().into_primitive(),
                        transposed,
                    )))
                };
                let grads = (y.clone() * upstream.clone()).sum().backward();
                let grad = values(Tensor::from_inner(scores.grad(&grads).expect("grad")));
                (values(y), grad)
            };
            let (y, grad) = run(true);
            let (y_ref, grad_ref) = run(false);
            let what = format!("relative gather [{b}, {h}, {n}, {width}], transposed {transposed}");
            // A gather copies: the values are equal. The scatter adds in another order.
            assert_eq!(y, y_ref, "{what}");
            assert_gradient_close(&format!("d {what}"), &grad, &grad_ref);
        }
    }
}

/// The composed LayerNorm (the form burn-ndarray, wgpu and CUDA run) keeps `1/σ` exact: burn-ndarray's SIMD
/// `recip` is the hardware's approximate reciprocal, applied in place to the vector-aligned middle of a buffer
/// only, so with it the backward pass depended on where the allocator put the buffer (relative errors up to
/// 6e-5, and a resumed run that no longer matched an uninterrupted one bit for bit).
#[test]
fn composed_layer_norm_on_ndarray_keeps_the_exact_inverse_deviation() {
    type Nd = burn::backend::NdArray<f32>;
    let device = Default::default();
    let (rows, d, eps) = (257usize, 48usize, 1e-12);
    // Rows of different spreads, so that 1/σ takes many values.
    let row = |r: usize, j: usize, salt: usize| {
        let t = ((r * 131 + j * 29 + salt * 7) % 97) as f32 / 97.0 - 0.5;
        t * (1.0 + (r % 13) as f32) + 0.3
    };
    let tensor = |salt: usize| {
        let data: Vec<f32> = (0..rows * d).map(|i| row(i / d, i % d, salt)).collect();
        Tensor::<Nd, 2>::from_data(TensorData::new(data, [rows, d]), &device)
    };
    let (x, residual) = (tensor(1), tensor(2));
    let host = |t: Tensor<Nd, 2>| t.into_data().to_vec::<f32>().expect("f32 values");
    let sum = host(x.clone() + residual.clone());
    let primitive = |t: Tensor<Nd, 1>| t.into_primitive().tensor();
    let saved = composed::residual_layer_norm_saving::<Nd>(
        x.into_primitive().tensor(),
        residual.into_primitive().tensor(),
        primitive(Tensor::ones([d], &device)),
        primitive(Tensor::zeros([d], &device)),
        eps,
    );
    let inv_std = host(Tensor::<Nd, 2>::from_primitive(TensorPrimitive::Float(
        saved.inv_std,
    )));
    assert_eq!(inv_std.len(), rows);
    for (r, &got) in inv_std.iter().enumerate() {
        let s = &sum[r * d..(r + 1) * d];
        let mean = s.iter().map(|&v| f64::from(v)).sum::<f64>() / d as f64;
        let var = s
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / d as f64;
        let want = 1.0 / (var + eps).sqrt();
        let rel = ((f64::from(got) - want) / want).abs();
        assert!(
            rel < 1e-6,
            "row {r}: 1/σ {got} vs {want} (relative {rel:.1e})"
        );
    }
}

/// `[rows, d_in, d_out]`: one element, odd sizes below and above the kernels' parallel threshold, and
/// MiniLM's feed-forward block.
const DENSE_SHAPES: [[usize; 3]; 4] = [[1, 1, 1], [7, 5, 3], [257, 65, 129], [4096, 384, 1536]];

/// With and without a bias (ModernBERT's layers have none): the bias-free layers take the same kernel.
#[test]
fn dense_matches_burns_linear_in_value_and_every_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for ([rows, d_in, d_out], with_bias) in shapes(&DENSE_SHAPES)
        .into_iter()
        .flat_map(|shape| [(shape, true), (shape, false)])
    {
        let weight = inputs.random([d_in, d_out], 0.2, &device);
        let bias = inputs.random([d_out], 1.0, &device);
        let layer = Linear {
            weight: Param::from_tensor(weight),
            bias: with_bias.then(|| Param::from_tensor(bias)),
        };
        let x0 = inputs.random([rows, d_in], 1.0, &device);
        let upstream = inputs.random([rows, d_out], 1.0, &device);
        let run = |fused: bool| {
            let x = x0.clone().require_grad();
            let y = if fused {
                dense(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let mut gradients = vec![
                values(Tensor::from_inner(x.grad(&grads).expect("grad"))),
                values(Tensor::from_inner(
                    layer.weight.val().grad(&grads).expect("grad"),
                )),
            ];
            if let Some(bias) = &layer.bias {
                gradients.push(values(Tensor::from_inner(
                    bias.val().grad(&grads).expect("grad"),
                )));
            }
            (values(y), gradients)
        };
        let (y, grads) = run(true);
        let (y_ref, grads_ref) = run(false);
        let what = format!("[{rows}, {d_in}, {d_out}], bias {with_bias}");
        assert_close(&format!("dense {what}"), &y, &y_ref, 2e-6, 2e-6);
        assert_eq!(grads.len(), 2 + usize::from(with_bias), "{what}");
        for (name, (got, want)) in ["x", "weight", "bias"]
            .iter()
            .zip(grads.iter().zip(&grads_ref))
        {
            assert_gradient_close(&format!("d {name} {what}"), got, want);
        }
    }
}

/// `[B, n, m, H, d_h]`: single elements, odd sizes, more keys than queries and the reverse, and MiniLM's
/// training block.
const HEAD_SHAPES: [[usize; 5]; 5] = [
    [1, 1, 1, 1, 1],
    [2, 5, 7, 3, 2],
    [3, 17, 9, 2, 5],
    [2, 33, 33, 4, 8],
    [32, 128, 128, 12, 32],
];

#[test]
fn attention_products_match_split_head_matmuls_in_value_and_every_gradient() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    for [b, n, m, h, d_h] in shapes(&HEAD_SHAPES) {
        let d = h * d_h;
        let (q0, k0, v0) = (
            inputs.random([b, n, d], 1.0, &device),
            inputs.random([b, m, d], 1.0, &device),
            inputs.random([b, m, d], 1.0, &device),
        );
        let probs0 = inputs.random([b, h, n, m], 1.0, &device);
        let (up_scores, up_context) = (
            inputs.random([b, h, n, m], 1.0, &device),
            inputs.random([b, n, d], 1.0, &device),
        );
        let run = |fused: bool| {
            let (q, k, v) = (
                q0.clone().require_grad(),
                k0.clone().require_grad(),
                v0.clone().require_grad(),
            );
            let probs = probs0.clone().require_grad();
            let (scores, context) = if fused {
                (
                    attention_scores(q.clone(), k.clone(), h),
                    attention_context(probs.clone(), v.clone()),
                )
            } else {
                let wrap4 = |t| Tensor::<AD, 4>::from_primitive(TensorPrimitive::Float(t));
                let wrap3 = |t| Tensor::<AD, 3>::from_primitive(TensorPrimitive::Float(t));
                (
                    wrap4(composed::attention_scores::<AD>(
                        q.clone().into_primitive().tensor(),
                        k.clone().into_primitive().tensor(),
                        h,
                        Products::Burn,
                    )),
                    wrap3(composed::attention_context::<AD>(
                        probs.clone().into_primitive().tensor(),
                        v.clone().into_primitive().tensor(),
                        h,
                        Products::Burn,
                    )),
                )
            };
            let loss = (scores.clone() * up_scores.clone()).sum()
                + (context.clone() * up_context.clone()).sum();
            let grads = loss.backward();
            let grad3 =
                |t: &Tensor<AD, 3>| values(Tensor::from_inner(t.grad(&grads).expect("grad")));
            (
                [values(scores), values(context)],
                [
                    grad3(&q),
                    grad3(&k),
                    grad3(&v),
                    values(Tensor::from_inner(probs.grad(&grads).expect("grad"))),
                ],
            )
        };
        let (outputs, grads) = run(true);
        let (outputs_ref, grads_ref) = run(false);
        let shape = [b, n, m, h, d_h];
        for (name, (got, want)) in ["scores", "context"]
            .iter()
            .zip(outputs.iter().zip(&outputs_ref))
        {
            assert_close(&format!("{name} {shape:?}"), got, want, 2e-6, 2e-6);
        }
        for (name, (got, want)) in ["q", "k", "v", "probs"]
            .iter()
            .zip(grads.iter().zip(&grads_ref))
        {
            assert_gradient_close(&format!("d {name} {shape:?}"), got, want);
        }
    }
}

/// A kernel that writes into its input's buffer must only do so when nothing else holds that buffer.
#[test]
fn fused_ops_leave_shared_inputs_untouched() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    let scores = inputs.random([2, 2, 5, 5], 1.0, &device).inner();
    let kept = scores.clone();
    let before = kept.to_data();
    let bias = Tensor::zeros([2, 1, 1, 5], &device);
    let _ = attention_softmax(scores, bias, 2.0);
    kept.to_data().assert_eq(&before, true);

    let x = inputs.random([3, 9], 1.0, &device).inner();
    let kept = x.clone();
    let before = kept.to_data();
    let _ = gelu(x);
    kept.to_data().assert_eq(&before, true);

    let norm = random_layer_norm(&mut inputs, 9, 1e-5, &device);
    let x = inputs.random([3, 9], 1.0, &device);
    let kept = x.clone();
    let before = kept.to_data();
    let _ = residual_layer_norm(x.clone(), x, &norm, 1e-5);
    kept.to_data().assert_eq(&before, true);

    // RoPE rotates in place where it owns its input: a contiguous input that is shared is copied first.
    let (cos, sin) = rope_tables::<AD>(3, 4, 1e4, &device);
    let x = inputs.random([2, 3, 8], 1.0, &device).inner();
    let kept = x.clone();
    let before = kept.to_data();
    let (cos, sin) = (cos.inner(), sin.inner());
    let _ = rope(x, &cos, &sin, 2);
    kept.to_data().assert_eq(&before, true);
}

/// The forward pass without autodiff (evaluation) computes the same function as under autodiff.
#[test]
fn inference_and_training_forms_agree() {
    let device = backend::open().expect("the chosen backend opens");
    let mut inputs = Inputs::default();
    let scores = inputs.random([2, 3, 9, 9], 2.0, &device);
    let mask = padding_mask(2, 9, &device);
    let trained = values(attention_softmax(scores.clone(), mask.bias(), 3.0));
    let inferred = attention_softmax(scores.inner(), mask.bias().inner(), 3.0)
        .into_data()
        .to_vec::<f32>()
        .expect("f32");
    assert_eq!(trained, inferred);

    let norm = random_layer_norm(&mut inputs, 33, 1e-12, &device);
    let (x, residual) = (
        inputs.random([2, 5, 33], 2.0, &device),
        inputs.random([2, 5, 33], 1.0, &device),
    );
    let trained = values(residual_layer_norm(
        x.clone().require_grad(),
        residual.clone(),
        &norm,
        1e-12,
    ));
    let inferred = residual_layer_norm(x.inner(), residual.inner(), &norm.valid(), 1e-12)
        .into_data()
        .to_vec::<f32>()
        .expect("f32");
    assert_eq!(trained, inferred);
}
