//! The fused operations composed from ordinary burn ops: the default methods of
//! [`SesameBackend`](super::SesameBackend), the reference the kernels are tested against, and (applied to an
//! autodiff backend) the reference for their backward passes.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor, ModuleOps};
use burn::tensor::{IndexingUpdateOp, Int, Shape, Tensor, TensorMetadata, TensorPrimitive};

use super::precision::Products;
use super::{LayerNormGrads, LayerNormSaved};
use crate::ops::reciprocal;

mod optim;
pub use optim::{adamw_update, sum_of_squares};

fn wrap<B: Backend, const D: usize>(x: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

fn unwrap<B: Backend, const D: usize>(x: Tensor<B, D>) -> FloatTensor<B> {
    x.into_primitive().tensor()
}

/// An element-wise function applied to a tensor of any rank, through a rank-1 view.
fn elementwise<B: Backend>(
    x: FloatTensor<B>,
    f: impl FnOnce(Tensor<B, 1>) -> Tensor<B, 1>,
) -> FloatTensor<B> {
    let shape = x.shape();
    let flat = B::float_reshape(x, Shape::from([shape.num_elements()]));
    B::float_reshape(unwrap(f(wrap(flat))), shape)
}

/// `softmax(scores / divisor + bias)` along the last axis, exactly the ops the attention ran before it had a
/// fused form.
pub fn attention_softmax<B: Backend>(
    scores: FloatTensor<B>,
    bias: FloatTensor<B>,
    divisor: f64,
) -> FloatTensor<B> {
    let logits = wrap::<B, 4>(scores) / divisor + wrap::<B, 4>(bias);
    unwrap(softmax(logits, 3))
}

/// `P ⊙ (G − Σ_j G ⊙ P) / divisor`, the sum along the last axis.
pub fn attention_softmax_backward<B: Backend>(
    probs: FloatTensor<B>,
    grad: FloatTensor<B>,
    divisor: f64,
) -> FloatTensor<B> {
    let probs = wrap::<B, 4>(probs);
    let grad = wrap::<B, 4>(grad);
    let row_dot = (grad.clone() * probs.clone()).sum_dim(3);
    let grad_logits = probs * (grad - row_dot);
    if divisor == 1.0 {
        unwrap(grad_logits)
    } else {
        unwrap(grad_logits / divisor)
    }
}

/// `½ x (1 + erf(x / √2))`, in the order of operations the model used before.
pub fn exact_gelu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    elementwise::<B>(x, |x| {
        let cdf = (x.clone() / std::f64::consts::SQRT_2).erf() + 1.0;
        x * cdf * 0.5
    })
}

/// `G ⊙ (Φ(x) + x φ(x))`, `Φ(x) = ½ (1 + erf(x / √2))`, `φ(x) = e^{−x²/2} / √(2π)`.
pub fn exact_gelu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let n = Shape::from([shape.num_elements()]);
    let x = wrap::<B, 1>(B::float_reshape(x, n.clone()));
    let grad = wrap::<B, 1>(B::float_reshape(grad, n));
    let cdf = ((x.clone() / std::f64::consts::SQRT_2).erf() + 1.0) * 0.5;
    let inv_sqrt_2pi = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let pdf = (x.clone() * x.clone() * -0.5).exp() * inv_sqrt_2pi;
    let derivative = cdf + x * pdf;
    B::float_reshape(unwrap(grad * derivative), shape)
}

/// `GELU(a) ⊙ g` of `x = [a | g]` `[rows, 2·f]`, with [`exact_gelu`].
pub fn geglu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let (a, g) = gate_halves::<B>(x);
    unwrap(wrap::<B, 2>(exact_gelu::<B>(unwrap(a))) * g)
}

/// `[G ⊙ g ⊙ GELU'(a) | G ⊙ GELU(a)]`, the gradient of [`geglu`]'s input.
pub fn geglu_backward<B: Backend>(x: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
    let (a, g) = gate_halves::<B>(x);
    let grad = wrap::<B, 2>(grad);
    let grad_a = exact_gelu_backward::<B>(unwrap(a.clone()), unwrap(grad.clone() * g));
    let grad_g = grad * wrap::<B, 2>(exact_gelu::<B>(unwrap(a)));
    unwrap(Tensor::cat(vec![wrap::<B, 2>(grad_a), grad_g], 1))
}

/// The halves `a` and `g` of GeGLU's input `[rows, 2·f]`.
fn gate_halves<B: Backend>(x: FloatTensor<B>) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let x = wrap::<B, 2>(x);
    let f = x.dims()[1] / 2;
    (x.clone().narrow(1, 0, f), x.narrow(1, f, f))
}

/// `x ⊙ cos + rotate_half(x) ⊙ sin` per head (`x: [B, n, H·d_h]`, tables `[n, d_h]`), `transformers`'
/// `apply_rotary_pos_emb` in burn ops.
pub fn rope<B: Backend>(
    x: FloatTensor<B>,
    cos: FloatTensor<B>,
    sin: FloatTensor<B>,
    heads: usize,
) -> FloatTensor<B> {
    let x = wrap::<B, 3>(x);
    let [b, n, d] = x.dims();
    let d_h = d / heads;
    let half = d_h / 2;
    let x = x.reshape([b, n, heads, d_h]);
    let rotated = Tensor::cat(
        vec![
            x.clone().narrow(3, half, half).neg(),
            x.clone().narrow(3, 0, half),
        ],
        3,
    );
    let cos = wrap::<B, 2>(cos).reshape([1, n, 1, d_h]);
    let sin = wrap::<B, 2>(sin).reshape([1, n, 1, d_h]);
    unwrap((x * cos + rotated * sin).reshape([b, n, d]))
}

/// The index of burn's gather along the last axis of `[B, H, n, R]` scores: `rows` `[n, n]` at every batch
/// element and head, transposed for the p2c form (whose scores are gathered by key, then transposed back).
fn relative_index<B: Backend>(
    rows: IntTensor<B>,
    transposed: bool,
    b: usize,
    h: usize,
) -> IntTensor<B> {
    let rows = Tensor::<B, 2, Int>::from_primitive(rows);
    let rows = if transposed { rows.transpose() } else { rows };
    let [n, _] = rows.dims();
    rows.reshape([1, 1, n, n])
        .expand([b, h, n, n])
        .into_primitive()
}

/// DeBERTa's relative-position gather (see [`SesameBackend::relative_gather`](super::SesameBackend)), as the
/// attention composed it before: burn's gather, then for p2c the transpose.
pub fn relative_gather<B: Backend>(
    scores: FloatTensor<B>,
    rows: IntTensor<B>,
    transposed: bool,
) -> FloatTensor<B> {
    let scores = wrap::<B, 4>(scores);
    let [b, h, _, _] = scores.dims();
    let index = Tensor::from_primitive(relative_index::<B>(rows, transposed, b, h));
    let out = scores.gather(3, index);
    unwrap(if transposed { out.swap_dims(2, 3) } else { out })
}

/// The gradient of [`relative_gather`]'s scores: burn's scatter-add into zeros `[B, H, n, width]`.
pub fn relative_gather_backward<B: Backend>(
    grad: FloatTensor<B>,
    rows: IntTensor<B>,
    transposed: bool,
    width: usize,
) -> FloatTensor<B> {
    let grad = wrap::<B, 4>(grad);
    let grad = if transposed {
        grad.swap_dims(2, 3)
    } else {
        grad
    };
    let [b, h, n, _] = grad.dims();
    let index = Tensor::from_primitive(relative_index::<B>(rows, transposed, b, h));
    let zeros = Tensor::<B, 4>::zeros([b, h, n, width], &grad.device());
    unwrap(zeros.scatter(3, index, grad, IndexingUpdateOp::Add))
}

/// `LayerNorm(x + residual)`: the add, then burn's `layer_norm` backend op (what burn's `LayerNorm` module
/// runs), exactly the ops the model ran before it had a fused form.
pub fn residual_layer_norm<B: Backend>(
    x: FloatTensor<B>,
    residual: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> FloatTensor<B> {
    B::layer_norm(B::float_add(x, residual), gamma, Some(beta), epsilon)
}

/// The training form: the output in the order of operations of burn's default `layer_norm`, with `x̂` and
/// `1/σ` kept.
pub fn residual_layer_norm_saving<B: Backend>(
    x: FloatTensor<B>,
    residual: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> LayerNormSaved<B> {
    let sum = B::float_add(x, residual);
    let last = sum.shape().num_dims() - 1;
    let mean = B::float_mean_dim(sum.clone(), last);
    let centered = B::float_sub(sum, mean);
    let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), last);
    let std = B::float_sqrt(B::float_add_scalar(var, epsilon.into()));
    // Not `B::float_recip`: burn-ndarray's is approximate and not repeatable (see `reciprocal`).
    let inv_std = elementwise::<B>(std.clone(), reciprocal);
    let normalized = B::float_div(centered, std);
    let output = affine::<B>(normalized.clone(), gamma, beta);
    LayerNormSaved {
        output,
        normalized,
        inv_std,
    }
}

/// `x̂ γ + β` with `γ`, `β` of shape `[d]` broadcast over the leading axes of `x̂`.
fn affine<B: Backend>(
    normalized: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = normalized.shape();
    let rank = shape.num_dims();
    let row = Shape::from(
        (0..rank)
            .map(|axis| if axis + 1 == rank { shape[axis] } else { 1 })
            .collect::<Vec<_>>(),
    );
    let scaled = B::float_mul(normalized, B::float_reshape(gamma, row.clone()));
    B::float_add(scaled, B::float_reshape(beta, row))
}

/// LayerNorm's backward pass from `x̂`, `1/σ` and the output's gradient, as burn ops on `[rows, d]` views.
pub fn layer_norm_backward<B: Backend>(
    normalized: FloatTensor<B>,
    inv_std: FloatTensor<B>,
    gamma: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> LayerNormGrads<B> {
    let shape = normalized.shape();
    let d = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / d.max(1);
    let as_rows = |t: FloatTensor<B>, cols: usize| {
        wrap::<B, 2>(B::float_reshape(t, Shape::from([rows, cols])))
    };
    let normalized = as_rows(normalized, d);
    let inv_std = as_rows(inv_std, 1);
    let grad = as_rows(grad, d);
    let grad_beta = grad.clone().sum_dim(0).reshape([d]);
    let grad_gamma = (grad.clone() * normalized.clone()).sum_dim(0).reshape([d]);
    let grad_normalized = grad * wrap::<B, 1>(gamma).reshape([1, d]);
    let mean_grad = grad_normalized.clone().mean_dim(1);
    let mean_grad_dot = (grad_normalized.clone() * normalized.clone()).mean_dim(1);
    let grad_input = (grad_normalized - mean_grad - normalized * mean_grad_dot) * inv_std;
    LayerNormGrads {
        input: B::float_reshape(unwrap(grad_input), shape),
        gamma: unwrap(grad_gamma),
        beta: unwrap(grad_beta),
    }
}

/// `[B, n, H·d_h]` → `[B, H, n, d_h]` (a strided view).
pub fn split_heads<B: Backend>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [b, n, d] = x.dims();
    x.reshape([b, n, heads, d / heads]).swap_dims(1, 2)
}

/// `[B, H, n, d_h]` → `[B, n, H·d_h]`.
pub fn merge_heads<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, h, n, d_h] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d_h])
}

/// `Q Kᵀ` per head through split views, as the attention computed it before it had a fused form, each product
/// formed as `products` says.
pub fn attention_scores<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    heads: usize,
    products: Products<B>,
) -> FloatTensor<B> {
    let q = split_heads(wrap::<B, 3>(q), heads);
    let k = split_heads(wrap::<B, 3>(k), heads);
    unwrap(products.matmul(q, k.swap_dims(2, 3)))
}

/// `[G K, Gᵀ Q]` per head, heads merged.
pub fn attention_scores_backward<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    grad: FloatTensor<B>,
    heads: usize,
    products: Products<B>,
) -> [FloatTensor<B>; 2] {
    let q = split_heads(wrap::<B, 3>(q), heads);
    let k = split_heads(wrap::<B, 3>(k), heads);
    let grad = wrap::<B, 4>(grad);
    [
        unwrap(merge_heads(products.matmul(grad.clone(), k))),
        unwrap(merge_heads(products.matmul(grad.swap_dims(2, 3), q))),
    ]
}

/// `P V` per head through a split view of `v`, heads merged.
pub fn attention_context<B: Backend>(
    probs: FloatTensor<B>,
    v: FloatTensor<B>,
    heads: usize,
    products: Products<B>,
) -> FloatTensor<B> {
    let v = split_heads(wrap::<B, 3>(v), heads);
    unwrap(merge_heads(products.matmul(wrap::<B, 4>(probs), v)))
}

/// `[G Vᵀ, Pᵀ G]` per head (`G` split into heads), the second merged.
pub fn attention_context_backward<B: Backend>(
    probs: FloatTensor<B>,
    v: FloatTensor<B>,
    grad: FloatTensor<B>,
    heads: usize,
    products: Products<B>,
) -> [FloatTensor<B>; 2] {
    let v = split_heads(wrap::<B, 3>(v), heads);
    let grad = split_heads(wrap::<B, 3>(grad), heads);
    [
        unwrap(products.matmul(grad.clone(), v.swap_dims(2, 3))),
        unwrap(merge_heads(
            products.matmul(wrap::<B, 4>(probs).swap_dims(2, 3), grad),
        )),
    ]
}

/// `x W + b` (`x: [rows, d_in]`, `W: [d_in, d_out]`, `b` optional): burn's `linear`, or the product formed
/// as `products` says with the bias added in f32.
pub fn dense<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    products: Products<B>,
) -> FloatTensor<B> {
    if let Products::Burn = products {
        return <B as ModuleOps<B>>::linear(x, weight, bias);
    }
    let product = products.matmul(wrap::<B, 2>(x), wrap::<B, 2>(weight));
    match bias {
        Some(bias) => {
            let d_out = bias.shape()[0];
            unwrap(product + wrap::<B, 1>(bias).reshape([1, d_out]))
        }
        None => unwrap(product),
    }
}

/// `G Wᵀ`, the gradient of [`dense`]'s input.
pub fn dense_input_grad<B: Backend>(
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    products: Products<B>,
) -> FloatTensor<B> {
    if let Products::Burn = products {
        return <B as ModuleOps<B>>::linear_x_backward(weight, grad);
    }
    unwrap(products.matmul(wrap::<B, 2>(grad), wrap::<B, 2>(weight).transpose()))
}

/// `xᵀ G`, the gradient of [`dense`]'s weight.
pub fn dense_weight_grad<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    products: Products<B>,
) -> FloatTensor<B> {
    if let Products::Burn = products {
        return <B as ModuleOps<B>>::linear_weight_backward(x, grad);
    }
    unwrap(products.matmul(wrap::<B, 2>(x).transpose(), wrap::<B, 2>(grad)))
}

/// `Σ_rows G`, the gradient of [`dense`]'s bias (f32 in every precision).
pub fn dense_bias_grad<B: Backend>(grad: FloatTensor<B>) -> FloatTensor<B> {
    <B as ModuleOps<B>>::linear_bias_backward(grad)
}
