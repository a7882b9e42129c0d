//! Localness modelling (Yang et al., EMNLP 2018; methods.md §4): a learned Gaussian bias on the attention
//! logits, `G_ij = −(j − P_i)² / (2σ_i²)`, with a predicted centre `P_i` and window `D_i = 2σ_i` per query.
//! It is the parametric cousin of SesameBERT's fixed blur.

use crate::ops::sigmoid;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Int, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::nn::AttentionMask;
use crate::nn::{linear, linear_with};

/// Settings of the localness bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LocalnessConfig {
    /// Encoder layers (0-based) that get the bias; `None` = every layer. The paper uses the lower layers.
    pub layers: Option<Vec<usize>>,
    /// Predict the window `D_i` per query (the paper). When `false`, a fixed window `window` is used with a
    /// predicted centre only (the authors' code, `local_size = 10`).
    pub predict_window: bool,
    /// The fixed window D in positions, when `predict_window` is false.
    pub window: f64,
}

impl Default for LocalnessConfig {
    fn default() -> Self {
        LocalnessConfig {
            layers: None,
            predict_window: true,
            window: 10.0,
        }
    }
}

impl LocalnessConfig {
    pub fn validate(&self, num_layers: usize) -> Result<()> {
        if !self.predict_window && !crate::error::is_positive(self.window) {
            return Err(CoreError::Setting(format!(
                "localness.window must be positive, got {}",
                self.window
            )));
        }
        if let Some(bad) = self.layers.iter().flatten().find(|&&l| l >= num_layers) {
            return Err(CoreError::Setting(format!(
                "localness.layers names layer {bad}, but the model has {num_layers} layers (0-based)"
            )));
        }
        Ok(())
    }

    pub fn applies_to(&self, layer: usize) -> bool {
        self.layers.as_ref().is_none_or(|l| l.contains(&layer))
    }
}

/// The bias network of one layer, shared by its heads (keys `…attention.self.localness.*`).
#[derive(Module, Debug)]
pub struct LocalnessBias<B: Backend> {
    /// `W_p` `[d_h, d_h]`.
    pub position_fc: Linear<B>,
    /// `v_p` `[d_h, 1]`.
    pub position_v: Linear<B>,
    /// `W_d`, `v_d` when the window is predicted.
    pub window_fc: Option<Linear<B>>,
    pub window_v: Option<Linear<B>>,
    fixed_window: f64,
}

impl<B: Backend> LocalnessBias<B> {
    pub fn new(head_size: usize, config: &LocalnessConfig, std: f64, device: &B::Device) -> Self {
        let vector = || linear_with(head_size, 1, std, false, device);
        LocalnessBias {
            position_fc: linear(head_size, head_size, std, device),
            position_v: vector(),
            window_fc: config
                .predict_window
                .then(|| linear(head_size, head_size, std, device)),
            window_v: config.predict_window.then(vector),
            fixed_window: config.window,
        }
    }

    /// `q`: queries `[B, H, n, d_h]` → logit bias `[B, H, n, n]`.
    ///
    /// `I` is each example's true length (from the mask, on the device): `P_i = (I − 1)·σ(v_pᵀ tanh(W_p q_i))`,
    /// `D_i = I·σ(v_dᵀ tanh(W_d q_i))` (or the fixed window), `σ_i = D_i / 2`.
    pub fn forward(&self, q: Tensor<B, 4>, mask: &AttentionMask<B>) -> Tensor<B, 4> {
        let [b, _, n, _] = q.dims();
        let device = q.device();
        let length = mask.mask().sum_dim(1).reshape([b, 1, 1, 1]);
        let centre = sigmoid(
            self.position_v
                .forward(self.position_fc.forward(q.clone()).tanh()),
        ) * (length.clone() - 1.0); // [B, H, n, 1]
        let window = match (&self.window_fc, &self.window_v) {
            (Some(fc), Some(v)) => sigmoid(v.forward(fc.forward(q).tanh())) * length, // [B, H, n, 1]
            _ => Tensor::<B, 4>::ones([1, 1, 1, 1], &device) * self.fixed_window,
        };
        let sigma = (window / 2.0).clamp_min(1e-3);
        let keys = Tensor::<B, 1, Int>::arange(0..n as i64, &device)
            .float()
            .reshape([1, 1, 1, n]);
        let dist = keys - centre; // [B, H, n, n]
        dist.powi_scalar(2).neg() / (sigma.powi_scalar(2) * 2.0)
    }
}
