//! The tensor-level functions the model calls: each wraps one [`SesameBackend`] operation, so that the model
//! reads as tensor code while each operation is one node of the autodiff graph.

use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Int, Tensor, TensorPrimitive};

use super::SesameBackend;

/// `softmax(scores / divisor + bias)` over the last axis of `scores` `[B, H, n, m]`, `bias` broadcastable
/// (see [`SesameBackend::attention_softmax`]).
pub fn attention_softmax<B: SesameBackend>(
    scores: Tensor<B, 4>,
    bias: Tensor<B, 4>,
    divisor: f64,
) -> Tensor<B, 4> {
    let out = B::attention_softmax(
        scores.into_primitive().tensor(),
        bias.into_primitive().tensor(),
        divisor,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// BERT's exact GELU `x Φ(x)`, with the exact derivative in the backward pass.
pub fn gelu<B: SesameBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::exact_gelu(
        x.into_primitive().tensor(),
    )))
}

/// GeGLU's gate with the exact GELU, `GELU(a) ⊙ g` of `x = [a | g]` `[B, n, 2·f]` → `[B, n, f]` (see
/// [`SesameBackend::geglu`]).
pub fn geglu<B: SesameBackend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, n, width] = x.dims();
    let rows = x.reshape([b * n, width]).into_primitive().tensor();
    let gated: Tensor<B, 2> = Tensor::from_primitive(TensorPrimitive::Float(B::geglu(rows)));
    gated.reshape([b, n, width / 2])
}

/// Rotary position embeddings of queries or keys `x: [B, n, H·d_h]` with the tables `cos`, `sin` `[n, d_h]`
/// (see [`SesameBackend::rope`]); the tables are constants, not differentiated.
pub fn rope<B: SesameBackend>(
    x: Tensor<B, 3>,
    cos: &Tensor<B, 2>,
    sin: &Tensor<B, 2>,
    heads: usize,
) -> Tensor<B, 3> {
    Tensor::from_primitive(TensorPrimitive::Float(B::rope(
        x.into_primitive().tensor(),
        cos.clone().into_primitive().tensor(),
        sin.clone().into_primitive().tensor(),
        heads,
    )))
}

/// `layer_norm(x + residual)` with burn's [`LayerNorm`] module's parameters, as one operation (one pass over
/// memory each way on a backend with a kernel). `epsilon` is the one the module was built with (burn keeps it
/// private). A LayerNorm without β (ModernBERT's) is given a zero β, which has no gradient to keep. `x` and
/// `residual` of different shapes (a broadcast residual) take burn's own module.
pub fn residual_layer_norm<B: SesameBackend, const D: usize>(
    x: Tensor<B, D>,
    residual: Tensor<B, D>,
    layer_norm: &LayerNorm<B>,
    epsilon: f64,
) -> Tensor<B, D> {
    if x.dims() != residual.dims() {
        return layer_norm.forward(x + residual);
    }
    let gamma = layer_norm.gamma.val();
    let beta = match &layer_norm.beta {
        Some(beta) => beta.val(),
        None => gamma.zeros_like(),
    };
    Tensor::from_primitive(TensorPrimitive::Float(B::residual_layer_norm(
        x.into_primitive().tensor(),
        residual.into_primitive().tensor(),
        gamma.into_primitive().tensor(),
        beta.into_primitive().tensor(),
        epsilon,
    )))
}

/// `layer_norm(x)` as one operation: the pre-norms of ModernBERT's layers. It is [`residual_layer_norm`] with
/// a zero residual, which has no gradient to keep: one pass more over memory than a kernel of its own would
/// make, against the ten or so nodes of burn's composed LayerNorm under autodiff.
pub fn layer_norm<B: SesameBackend, const D: usize>(
    x: Tensor<B, D>,
    layer_norm: &LayerNorm<B>,
    epsilon: f64,
) -> Tensor<B, D> {
    let residual = x.zeros_like();
    residual_layer_norm(x, residual, layer_norm, epsilon)
}

/// `Q Kᵀ` per head: `q: [B, n, H·d_h]`, `k: [B, m, H·d_h]` → scores `[B, H, n, m]` (see
/// [`SesameBackend::attention_scores`]).
pub fn attention_scores<B: SesameBackend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    heads: usize,
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::attention_scores(
        q.into_primitive().tensor(),
        k.into_primitive().tensor(),
        heads,
    )))
}

/// `P V` per head, heads merged: `probs: [B, H, n, m]`, `v: [B, m, H·d_h]` → `[B, n, H·d_h]`.
pub fn attention_context<B: SesameBackend>(probs: Tensor<B, 4>, v: Tensor<B, 3>) -> Tensor<B, 3> {
    let heads = probs.dims()[1];
    Tensor::from_primitive(TensorPrimitive::Float(B::attention_context(
        probs.into_primitive().tensor(),
        v.into_primitive().tensor(),
        heads,
    )))
}

/// `x W + b` for token rows `x: [rows, d_in]` with burn's [`Linear`] module's parameters, as one operation
/// (the bias, where the layer has one, folded into the product on a backend with a kernel). Layers without a
/// bias take the same path, so that they too run on the backend's kernel and in the products' precision.
pub fn dense<B: SesameBackend>(layer: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    Tensor::from_primitive(TensorPrimitive::Float(B::dense(
        x.into_primitive().tensor(),
        layer.weight.val().into_primitive().tensor(),
        layer
            .bias
            .as_ref()
            .map(|b| b.val().into_primitive().tensor()),
    )))
}

/// DeBERTa's relative-position gather of scores `[B, H, n, R]` at the rows `r(i, j)` `[n, n]` → `[B, H, n, n]`
/// (see [`SesameBackend::relative_gather`]); the table is a constant, not differentiated.
pub fn relative_gather<B: SesameBackend>(
    scores: Tensor<B, 4>,
    rows: &Tensor<B, 2, Int>,
    transposed: bool,
) -> Tensor<B, 4> {
    Tensor::from_primitive(TensorPrimitive::Float(B::relative_gather(
        scores.into_primitive().tensor(),
        rows.clone().into_primitive(),
        transposed,
    )))
}
