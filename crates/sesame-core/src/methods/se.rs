//! SesameBERT's squeeze-and-excitation over layer outputs and the layer aggregations of the paper's Table 3
//! (methods.md §1.3). The "channels" are the L encoder layers.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{relu, softmax};

use crate::ops::sigmoid;
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::nn::normal_param;
use crate::nn::AttentionMask;

/// How the squeeze averages a layer output `H_l` `[B, n, d]` into one number per example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqueezeMode {
    /// The reference: mean over all n·d entries, padding included (its value depends on the padded length).
    UnmaskedPadded,
    /// Mean over real tokens only; independent of how a batch is padded (sesame's default).
    #[default]
    MaskedMean,
    /// An informative squeeze (not in the paper): the masked token mean `m_l ∈ R^d` of each layer projected on
    /// a learned direction, `z_l = u_lᵀ m_l / √d` (keys `se.squeeze_projection` `[L, d]`, `u` ~ N(0, 1)).
    /// The paper's squeeze is the special case `u_l = 1/√d`; because every layer output is LayerNorm'd, that
    /// mean barely varies between inputs, while a random direction through the channels does from the first
    /// step, and training can turn it towards what the task needs.
    Projected,
}

/// Settings of the squeeze-and-excitation gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeConfig {
    /// Reduction ratio r: the bottleneck has `max(1, L / r)` units (reference: 3, so 12 → 4).
    pub reduction: usize,
    /// Initial value of both biases (reference: 0.8).
    pub bias_init: f64,
    pub squeeze: SqueezeMode,
}

impl Default for SeConfig {
    fn default() -> Self {
        SeConfig {
            reduction: 3,
            bias_init: 0.8,
            squeeze: SqueezeMode::default(),
        }
    }
}

/// Which (rescaled) layer outputs form the sequence output `O` fed to the pooler. Indices are 1-based layers
/// as in the paper (`H_1 … H_L`); the embedding output is never part of it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "layer")]
pub enum Aggregation {
    /// `X̃_1`.
    First,
    /// `X̃_2`.
    Second,
    /// `X̃_{L−1}`.
    SecondToLast,
    /// `X̃_L`: the reference code's choice ("se last hidden") and plain BERT's.
    #[default]
    Last,
    /// `Σ_{l > L−4} X̃_l`.
    SumLastFour,
    /// `Σ_l X̃_l`.
    SumAll,
    /// With SE, `Σ e_l H_l / Σ e_l` (the paper's text); without SE the plain mean over layers.
    WeightedAverage,
    /// `mean_l X̃_l`.
    Mean,
    /// `X̃_k` for a 1-based layer k.
    Index(usize),
    /// ELMo's scalar mix: `γ Σ softmax(w)_l X̃_l` with learned `w` (zeros) and `γ` (one).
    ScalarMix,
}

impl Aggregation {
    /// Every aggregation but [`Aggregation::Index`], by the name the command line gives it.
    pub const NAMED: [(&'static str, Aggregation); 9] = [
        ("first", Aggregation::First),
        ("second", Aggregation::Second),
        ("second-to-last", Aggregation::SecondToLast),
        ("last", Aggregation::Last),
        ("sum-last-four", Aggregation::SumLastFour),
        ("sum-all", Aggregation::SumAll),
        ("weighted-average", Aggregation::WeightedAverage),
        ("mean", Aggregation::Mean),
        ("scalar-mix", Aggregation::ScalarMix),
    ];

    /// The aggregation named `name` in [`Aggregation::NAMED`].
    pub fn parse(name: &str) -> Option<Aggregation> {
        Self::NAMED
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, aggregation)| aggregation)
    }
}

/// Settings of how layer outputs become the sequence output.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LayerAggregationConfig {
    /// The SE gate; `None` = no gate (every `e_l = 1`).
    #[serde(default)]
    pub se: Option<SeConfig>,
    #[serde(default)]
    pub aggregation: Aggregation,
}

impl LayerAggregationConfig {
    pub fn validate(&self, num_layers: usize) -> Result<()> {
        let need = match self.aggregation {
            Aggregation::Second => 2,
            Aggregation::SecondToLast => 2,
            Aggregation::Index(k) => {
                if k == 0 {
                    return Err(CoreError::Setting(
                        "aggregation index is 1-based, got 0".into(),
                    ));
                }
                k
            }
            _ => 1,
        };
        if need > num_layers {
            return Err(CoreError::Setting(format!(
                "aggregation {:?} needs {need} layers, the model has {num_layers}",
                self.aggregation
            )));
        }
        if let Some(se) = &self.se {
            if se.reduction == 0 {
                return Err(CoreError::Setting("se.reduction must be at least 1".into()));
            }
        }
        Ok(())
    }
}

/// The excitation network `e = σ(W₂ ReLU(W₁ z + b₁) + b₂)` (keys `se.bottleneck_fc.*`, `se.recover_fc.*`).
#[derive(Module, Debug)]
pub struct SqueezeExcitation<B: Backend> {
    pub bottleneck_fc: Linear<B>,
    pub recover_fc: Linear<B>,
    /// `u` `[L, d]` of [`SqueezeMode::Projected`]; `None` for the paper's squeezes.
    pub squeeze_projection: Option<Param<Tensor<B, 2>>>,
    squeeze: SqueezeMode,
}

impl<B: Backend> SqueezeExcitation<B> {
    /// Kernels He-normal (`std = √(2/fan_in)`, as TF's variance-scaling default), biases `bias_init`.
    /// `hidden_size` is the width d of a layer output (the projected squeeze has one direction per layer).
    pub fn new(
        num_layers: usize,
        hidden_size: usize,
        config: &SeConfig,
        device: &B::Device,
    ) -> Self {
        let hidden = (num_layers / config.reduction).max(1);
        let fc = |d_in: usize, d_out: usize| Linear {
            weight: normal_param([d_in, d_out], (2.0 / d_in as f64).sqrt(), device),
            bias: Some(Param::from_tensor(Tensor::full(
                [d_out],
                config.bias_init,
                device,
            ))),
        };
        SqueezeExcitation {
            bottleneck_fc: fc(num_layers, hidden),
            recover_fc: fc(hidden, num_layers),
            squeeze_projection: (config.squeeze == SqueezeMode::Projected)
                .then(|| normal_param([num_layers, hidden_size], 1.0, device)),
            squeeze: config.squeeze,
        }
    }

    /// `layers`: `H_1 … H_L`, each `[B, n, d]` → gates `e` `[B, L]` in (0, 1).
    pub fn gates(&self, layers: &[Tensor<B, 3>], mask: &AttentionMask<B>) -> Tensor<B, 2> {
        let z = match &self.squeeze_projection {
            Some(u) => projected_squeeze(layers, mask, u.val()),
            None => squeeze(layers, mask, self.squeeze),
        };
        sigmoid(self.recover_fc.forward(relu(self.bottleneck_fc.forward(z))))
    }
}

/// `z_l`: per example, the mean of `H_l` over positions and hidden units → `[B, L]`.
pub fn squeeze<B: Backend>(
    layers: &[Tensor<B, 3>],
    mask: &AttentionMask<B>,
    mode: SqueezeMode,
) -> Tensor<B, 2> {
    let per_layer: Vec<Tensor<B, 2>> = layers
        .iter()
        .map(|h| {
            let [b, n, d] = h.dims();
            match mode {
                SqueezeMode::UnmaskedPadded => h.clone().reshape([b, n * d]).mean_dim(1),
                // Without its directions the projected squeeze is the masked mean (u_l = 1/√d).
                SqueezeMode::MaskedMean | SqueezeMode::Projected => {
                    let m = mask.mask(); // [B, n]
                    let count = m.clone().sum_dim(1) * d as f64; // [B, 1]
                                                                 // Σ_n m_n Σ_d h_nd: reduce over d first, so the mask multiplies [B, n] instead of the
                                                                 // whole [B, n, d] (one pass over each layer output instead of three, forward and backward).
                    let per_position = h.clone().sum_dim(2).reshape([b, n]);
                    (per_position * m).sum_dim(1) / count
                }
            }
        })
        .collect();
    Tensor::cat(per_layer, 1)
}

/// `z_l = u_lᵀ m_l / √d` with `m_l` the masked token mean of `H_l`: `layers` `[B, n, d]` each, `u` `[L, d]` →
/// `[B, L]`.
pub fn projected_squeeze<B: Backend>(
    layers: &[Tensor<B, 3>],
    mask: &AttentionMask<B>,
    u: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let m = mask.mask(); // [B, n]
    let [b, n] = m.dims();
    let count = m.clone().sum_dim(1); // [B, 1]
    let weights = m.reshape([b, n, 1]);
    let per_layer: Vec<Tensor<B, 2>> = layers
        .iter()
        .enumerate()
        .map(|(l, h)| {
            let d = h.dims()[2];
            // m_l = Σ_n mask_n h_n / count → [B, d]; z_l = Σ_d m_l u_l / √d → [B, 1]. Elementwise products and
            // sums, not products of a row by a strided column: the wgpu backend computed those wrongly here.
            let mean = (h.clone() * weights.clone()).sum_dim(1).reshape([b, d]) / count.clone();
            let direction = u.clone().slice([l..l + 1, 0..d]); // [1, d]
            (mean * direction).sum_dim(1) / (d as f64).sqrt()
        })
        .collect();
    Tensor::cat(per_layer, 1)
}

/// Turns the layer outputs into the sequence output `O` (keys `se.*`, `scalar_mix.*`).
#[derive(Module, Debug)]
pub struct LayerAggregator<B: Backend> {
    pub se: Option<SqueezeExcitation<B>>,
    /// Only for [`Aggregation::ScalarMix`].
    pub scalar_mix: Option<ScalarMix<B>>,
    aggregation: Aggregation,
}

/// ELMo's scalar mix parameters (keys `scalar_mix.weights`, `scalar_mix.gamma`).
#[derive(Module, Debug)]
pub struct ScalarMix<B: Backend> {
    /// Logits `w` `[L]`, softmax-normalised in the forward pass.
    pub weights: Param<Tensor<B, 1>>,
    /// Scale `γ` `[1]`.
    pub gamma: Param<Tensor<B, 1>>,
}

/// The sequence output and, with SE, the gates (for plots like the paper's Fig. 4).
pub struct AggregatorOutput<B: Backend> {
    /// `O`: `[B, n, d]`.
    pub sequence: Tensor<B, 3>,
    /// `e`: `[B, L]`, when the SE gate is on.
    pub gates: Option<Tensor<B, 2>>,
}

impl<B: Backend> LayerAggregator<B> {
    pub fn new(
        num_layers: usize,
        hidden_size: usize,
        config: &LayerAggregationConfig,
        device: &B::Device,
    ) -> Result<Self> {
        config.validate(num_layers)?;
        let mix = config.aggregation == Aggregation::ScalarMix;
        Ok(LayerAggregator {
            se: config
                .se
                .as_ref()
                .map(|se| SqueezeExcitation::new(num_layers, hidden_size, se, device)),
            scalar_mix: mix.then(|| ScalarMix {
                weights: Param::from_tensor(Tensor::zeros([num_layers], device)),
                gamma: Param::from_tensor(Tensor::ones([1], device)),
            }),
            aggregation: config.aggregation,
        })
    }

    pub fn aggregation(&self) -> Aggregation {
        self.aggregation
    }

    /// `layers`: `H_1 … H_L` `[B, n, d]` → `O` `[B, n, d]`.
    pub fn forward(&self, layers: &[Tensor<B, 3>], mask: &AttentionMask<B>) -> AggregatorOutput<B> {
        let l = layers.len();
        let gates = self.se.as_ref().map(|se| se.gates(layers, mask));
        // X̃_l = e_l · H_l (per example), or H_l without the gate.
        let scaled = |i: usize| -> Tensor<B, 3> {
            match &gates {
                Some(e) => {
                    let [b, _] = e.dims();
                    layers[i].clone() * e.clone().narrow(1, i, 1).reshape([b, 1, 1])
                }
                None => layers[i].clone(),
            }
        };
        let sum = |range: std::ops::Range<usize>| -> Tensor<B, 3> {
            range
                .map(scaled)
                .reduce(|a, b| a + b)
                .expect("validated: at least one layer")
        };
        let sequence = match self.aggregation {
            Aggregation::First => scaled(0),
            Aggregation::Second => scaled(1),
            Aggregation::SecondToLast => scaled(l - 2),
            Aggregation::Last => scaled(l - 1),
            Aggregation::Index(k) => scaled(k - 1),
            Aggregation::SumLastFour => sum(l.saturating_sub(4)..l),
            Aggregation::SumAll => sum(0..l),
            Aggregation::Mean => sum(0..l) / l as f64,
            Aggregation::WeightedAverage => match &gates {
                Some(e) => {
                    let [b, _] = e.dims();
                    sum(0..l) / e.clone().sum_dim(1).reshape([b, 1, 1])
                }
                None => sum(0..l) / l as f64,
            },
            Aggregation::ScalarMix => match &self.scalar_mix {
                Some(mix) => {
                    let weights = softmax(mix.weights.val(), 0);
                    (0..l)
                        .map(|i| scaled(i) * weights.clone().narrow(0, i, 1).reshape([1, 1, 1]))
                        .reduce(|a, b| a + b)
                        .expect("validated: at least one layer")
                        * mix.gamma.val().reshape([1, 1, 1])
                }
                // Created in `new` whenever the aggregation is ScalarMix; an unweighted mean otherwise.
                None => sum(0..l) / l as f64,
            },
        };
        AggregatorOutput { sequence, gates }
    }
}
