//! Small constructors and loaders shared by the BERT modules: Hugging Face initialisation and key mapping for
//! burn's `Linear`, `Embedding` and `LayerNorm`.

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{backend::Backend, Distribution, Tensor};

use crate::checkpoint::ParamLoader;
use crate::error::Result;

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

/// Loads `{prefix}.weight` (`[out, in]` in the checkpoint) and `{prefix}.bias`.
pub fn load_linear<B: Backend>(
    layer: &mut Linear<B>,
    loader: &mut ParamLoader<'_, B>,
    prefix: &str,
) -> Result<()> {
    let [d_in, d_out] = layer.weight.shape().dims();
    if let Some(w) = loader.linear_weight(&format!("{prefix}.weight"), d_in, d_out)? {
        layer.weight = Param::from_tensor(w);
    }
    if let Some(b) = loader.float(&format!("{prefix}.bias"), [d_out])? {
        layer.bias = Some(Param::from_tensor(b));
    }
    Ok(())
}

/// Loads a linear layer that pretrained checkpoints lack (a head, a gate) if the checkpoint has it.
pub fn load_linear_optional<B: Backend>(
    layer: &mut Linear<B>,
    loader: &mut ParamLoader<'_, B>,
    prefix: &str,
) -> Result<()> {
    let [d_in, d_out] = layer.weight.shape().dims();
    if let Some(w) = loader.optional_float(&format!("{prefix}.weight"), [d_out, d_in])? {
        layer.weight = Param::from_tensor(w.transpose());
    }
    if let Some(b) = loader.optional_float(&format!("{prefix}.bias"), [d_out])? {
        layer.bias = Some(Param::from_tensor(b));
    }
    Ok(())
}

/// Loads `{prefix}.weight` of an embedding table.
pub fn load_embedding<B: Backend>(
    table: &mut Embedding<B>,
    loader: &mut ParamLoader<'_, B>,
    prefix: &str,
) -> Result<()> {
    let dims: [usize; 2] = table.weight.shape().dims();
    if let Some(w) = loader.float(&format!("{prefix}.weight"), dims)? {
        table.weight = Param::from_tensor(w);
    }
    Ok(())
}

/// Loads `{prefix}.weight` and `{prefix}.bias` of a LayerNorm (Hugging Face's names for γ and β).
pub fn load_layer_norm<B: Backend>(
    norm: &mut LayerNorm<B>,
    loader: &mut ParamLoader<'_, B>,
    prefix: &str,
) -> Result<()> {
    let [d] = norm.gamma.shape().dims();
    if let Some(g) = loader.float(&format!("{prefix}.weight"), [d])? {
        norm.gamma = Param::from_tensor(g);
    }
    if let Some(b) = loader.float(&format!("{prefix}.bias"), [d])? {
        norm.beta = Some(Param::from_tensor(b));
    }
    Ok(())
}
