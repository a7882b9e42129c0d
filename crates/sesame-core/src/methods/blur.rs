//! SesameBERT's Gaussian blur along the sequence axis (methods.md §1.4).
//!
//! Every channel is convolved with the same normalised Gaussian kernel along token positions. sesame applies
//! it as a banded `[n, n]` matrix `G` (`G·X`), with the boundary rule folded into `G`: one matmul, exact for any
//! odd kernel size and both boundary modes, and differentiable by construction.

use std::collections::BTreeSet;

use burn::tensor::{backend::Backend, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::nn::AttentionMask;

/// Where in the attention sub-layer the blur is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlurTarget {
    /// On the merged context `C = concat_h(A_h V_h)`, before `W_O` (paper §3.2.1, Table 1; the default).
    Context,
    /// On the values `V = X W_V + b`, before the head split (paper §3.2.2).
    Value,
}

/// How the kernel is continued past the ends of the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlurBoundary {
    /// The reference code: mirror ("SYMMETRIC") padding at both ends of the *padded* sequence, no mask, so the
    /// last real token mixes with the first pad position. For k = 3 this is edge replication.
    PaddedEnd,
    /// Padding-aware: mirror at the last *real* token; pad rows are left untouched.
    TrueEnd,
}

/// Settings of the Gaussian blur, as written in a model config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlurConfig {
    pub target: BlurTarget,
    /// Odd kernel size k (reference: 3).
    pub kernel_size: usize,
    /// Standard deviation σ in positions (reference: 0.3; the paper's grid is {0.01, 0.1, 0.3, 0.5}).
    pub sigma: f64,
    pub boundary: BlurBoundary,
    /// Encoder layers (0-based) that blur; `None` = every layer, as in the reference.
    pub layers: Option<Vec<usize>>,
}

impl Default for BlurConfig {
    fn default() -> Self {
        BlurConfig {
            target: BlurTarget::Context,
            kernel_size: 3,
            sigma: 0.3,
            boundary: BlurBoundary::PaddedEnd,
            layers: None,
        }
    }
}

impl BlurConfig {
    pub fn validate(&self, num_layers: usize) -> Result<()> {
        if self.kernel_size.is_multiple_of(2) {
            return Err(CoreError::Setting(format!(
                "blur.kernel_size must be odd, got {}",
                self.kernel_size
            )));
        }
        if !crate::error::is_positive(self.sigma) {
            return Err(CoreError::Setting(format!(
                "blur.sigma must be positive, got {}",
                self.sigma
            )));
        }
        if let Some(layers) = &self.layers {
            if let Some(bad) = layers.iter().find(|&&l| l >= num_layers) {
                return Err(CoreError::Setting(format!(
                    "blur.layers names layer {bad}, but the model has {num_layers} layers (0-based)"
                )));
            }
        }
        Ok(())
    }

    /// Whether encoder layer `layer` (0-based) blurs.
    pub fn applies_to(&self, layer: usize) -> bool {
        self.layers
            .as_ref()
            .is_none_or(|l| l.iter().copied().collect::<BTreeSet<_>>().contains(&layer))
    }

    /// The operator of one layer.
    pub fn blur(&self) -> GaussianBlur {
        GaussianBlur {
            kernel: gaussian_kernel(self.kernel_size, self.sigma),
            boundary: self.boundary,
        }
    }
}

/// The normalised Gaussian kernel `g(x) ∝ exp(−x²/(2σ²))`, `x = −(k−1)/2 … (k−1)/2`, computed in f64.
pub fn gaussian_kernel(size: usize, sigma: f64) -> Vec<f64> {
    let half = (size as f64 - 1.0) / 2.0;
    let raw: Vec<f64> = (0..size)
        .map(|i| {
            let x = i as f64 - half;
            (-x * x / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|g| g / total).collect()
}

/// Mirror (numpy "symmetric") reflection of position `i` into `0..len`: `−1 → 0`, `−2 → 1`, `len → len−1`.
fn mirror(i: isize, len: usize) -> usize {
    let len = len as isize;
    let period = 2 * len;
    let mut j = i.rem_euclid(period);
    if j >= len {
        j = period - 1 - j;
    }
    j as usize
}

/// One layer's blur operator: a kernel and a boundary rule.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianBlur {
    pub kernel: Vec<f64>,
    pub boundary: BlurBoundary,
}

impl GaussianBlur {
    /// The `[n, n]` row-major matrix `G` blurring the first `len` positions (mirrored at `len`) and leaving
    /// rows `len..n` as the identity.
    pub fn matrix(&self, n: usize, len: usize) -> Vec<f64> {
        let half = (self.kernel.len() / 2) as isize;
        let mut g = vec![0f64; n * n];
        for i in 0..n {
            if i >= len {
                g[i * n + i] = 1.0;
                continue;
            }
            for (t, w) in self.kernel.iter().enumerate() {
                let j = mirror(i as isize + t as isize - half, len);
                g[i * n + j] += w;
            }
        }
        g
    }

    /// Blurs `x` `[B, n, d]` along the sequence axis. With the true-end boundary it reads the sequence
    /// lengths from the device (a failed read is an error).
    pub fn forward<B: Backend>(
        &self,
        x: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<Tensor<B, 3>> {
        let [b, n, _] = x.dims();
        let device = x.device();
        match self.boundary {
            BlurBoundary::PaddedEnd => {
                let g =
                    Tensor::<B, 2>::from_data(TensorData::new(self.matrix(n, n), [n, n]), &device);
                Ok(g.unsqueeze::<3>().matmul(x))
            }
            BlurBoundary::TrueEnd => {
                let lengths = mask.lengths()?;
                let data: Vec<f64> = lengths
                    .iter()
                    .flat_map(|&len| self.matrix(n, len))
                    .collect();
                let g = Tensor::<B, 3>::from_data(TensorData::new(data, [b, n, n]), &device);
                Ok(g.matmul(x))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_is_numpy_symmetric() {
        let got: Vec<usize> = (-3..7).map(|i| mirror(i, 4)).collect();
        assert_eq!(got, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    }
}
