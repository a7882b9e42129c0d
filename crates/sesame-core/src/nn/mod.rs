//! Building blocks of the model below `bert/` and `methods/`: Hugging Face initialisation of burn's `Linear`,
//! `Embedding` and `LayerNorm`, the token-wise dense layer, the attention mask ([`mask`]) and where each
//! parameter's starting value comes from ([`origin`]).

pub mod mask;
pub mod origin;

pub use mask::AttentionMask;
pub use origin::{FreshParams, ParamOrigin};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{backend::Backend, Distribution, Tensor};

use crate::fused::{dense, SesameBackend};

/// A `[rows, cols]` parameter drawn from N(0, std²) now.
///
/// Parameters are materialised eagerly on purpose: burn's lazily initialised parameters draw their values on
/// first use, so two clones of a fresh module taken before that would hold *different* weights.
pub fn normal_param<B: Backend>(
    shape: [usize; 2],
    std: f64,
    device: &B::Device,
) -> Param<Tensor<B, 2>> {
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Normal(0.0, std),
        device,
    ))
}

/// `nn.Linear(d_in, d_out)` initialised as `transformers` does: weights N(0, std²), bias 0 (or no bias).
pub fn linear_with<B: Backend>(
    d_in: usize,
    d_out: usize,
    std: f64,
    bias: bool,
    device: &B::Device,
) -> Linear<B> {
    Linear {
        weight: normal_param([d_in, d_out], std, device),
        bias: bias.then(|| Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

/// `nn.Linear(d_in, d_out)` with bias, initialised as `transformers` does.
pub fn linear<B: Backend>(d_in: usize, d_out: usize, std: f64, device: &B::Device) -> Linear<B> {
    linear_with(d_in, d_out, std, true, device)
}

/// `layer(x)` for token features `x: [B, n, d_in]` → `[B, n, d_out]`, as one `[B·n, d_in] × [d_in, d_out]`
/// product.
///
/// burn's `Linear` on a rank-3 input broadcasts the weight to `[1, d_in, d_out]` and runs B products of n rows
/// each; the weight gradient then becomes B products with an inner dimension of only n, summed afterwards.
/// Folding the batch into the rows gives one large product in each direction, which the CPU backends run much
/// closer to their matmul peak (docs/performance.md). The function is the same: `tests/fast_paths.rs` checks it.
/// The product runs as sesame's [`dense`] operation (the bias folded into it on a backend with a kernel).
pub fn linear_tokens<B: SesameBackend>(layer: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, n, d] = x.dims();
    let y = dense(layer, x.reshape([b * n, d]));
    let d_out = y.dims()[1];
    y.reshape([b, n, d_out])
}

/// `nn.Embedding(n, d)` initialised N(0, std²).
pub fn embedding<B: Backend>(n: usize, d: usize, std: f64, device: &B::Device) -> Embedding<B> {
    Embedding {
        weight: normal_param([n, d], std, device),
    }
}

/// `nn.LayerNorm(d, eps)` with weight 1 and bias 0.
pub fn layer_norm<B: Backend>(d: usize, eps: f64, device: &B::Device) -> LayerNorm<B> {
    LayerNormConfig::new(d).with_epsilon(eps).init(device)
}
