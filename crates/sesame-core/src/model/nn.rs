//! Small constructors and loaders shared by the BERT modules: Hugging Face initialisation and key mapping for
//! burn's `Linear`, `Embedding` and `LayerNorm`.

use burn::module::{Initializer, Param};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;

use crate::checkpoint::ParamLoader;
use crate::error::Result;

/// `nn.Linear(d_in, d_out)` initialised as `transformers` does: weights N(0, std²), bias 0.
pub fn linear<B: Backend>(d_in: usize, d_out: usize, std: f64, device: &B::Device) -> Linear<B> {
    let mut layer = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device);
    layer.bias = Some(Initializer::Zeros.init([d_out], device));
    layer
}

/// `nn.Embedding(n, d)` initialised N(0, std²).
pub fn embedding<B: Backend>(n: usize, d: usize, std: f64, device: &B::Device) -> Embedding<B> {
    EmbeddingConfig::new(n, d)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
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
