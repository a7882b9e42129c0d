//! Per-layer attention variants: which normaliser and which sequence transform a self-attention layer runs.

use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::methods::blur::{BlurTarget, GaussianBlur};
use crate::nn::AttentionMask;

/// How attention logits become weights.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ScoreNormalizer {
    /// BERT's softmax.
    #[default]
    Softmax,
    /// SSAF's sparsegen-lin with sparsity coefficient λ < 1 (λ = 0 is sparsemax).
    SparsegenLin { lambda: f64 },
}

/// The parameter-free part of one self-attention layer's variant.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttentionVariant {
    pub normalizer: ScoreNormalizer,
    /// Gaussian blur and where it sits, if this layer blurs.
    pub blur: Option<(BlurTarget, GaussianBlur)>,
    /// The localness bias settings, if this layer has one (its parameters live in the layer).
    pub localness: Option<crate::methods::localness::LocalnessConfig>,
}

impl AttentionVariant {
    /// Seam on `V = X W_V + b` `[B, n, d]`, before the head split.
    pub fn transform_values<B: Backend>(
        &self,
        v: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<Tensor<B, 3>> {
        match &self.blur {
            Some((BlurTarget::Value, blur)) => blur.forward(v, mask),
            _ => Ok(v),
        }
    }

    /// Seam on the merged context `[B, n, d]`, before the output projection.
    pub fn transform_context<B: Backend>(
        &self,
        c: Tensor<B, 3>,
        mask: &AttentionMask<B>,
    ) -> Result<Tensor<B, 3>> {
        match &self.blur {
            Some((BlurTarget::Context, blur)) => blur.forward(c, mask),
            _ => Ok(c),
        }
    }
}

/// The attention settings of a whole encoder, as written in a model config.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttentionConfig {
    /// Softmax (BERT) or sparsegen-lin (SSAF), in every layer.
    #[serde(default)]
    pub normalizer: ScoreNormalizer,
    /// SesameBERT's Gaussian blur; `None` = off.
    #[serde(default)]
    pub blur: Option<crate::methods::blur::BlurConfig>,
    /// Learned Gaussian logit bias (Yang et al. 2018); `None` = off.
    #[serde(default)]
    pub localness: Option<crate::methods::localness::LocalnessConfig>,
}

impl AttentionConfig {
    /// Checks the settings against a model with `num_layers` layers.
    pub fn validate(&self, num_layers: usize) -> crate::error::Result<()> {
        if let ScoreNormalizer::SparsegenLin { lambda } = self.normalizer {
            if lambda >= 1.0 || lambda.is_nan() {
                return Err(crate::error::CoreError::Setting(format!(
                    "sparsegen-lin needs lambda < 1, got {lambda}"
                )));
            }
        }
        if let Some(blur) = &self.blur {
            blur.validate(num_layers)?;
        }
        if let Some(localness) = &self.localness {
            localness.validate(num_layers)?;
        }
        Ok(())
    }

    /// The variant of each of `num_layers` layers.
    pub fn layer_variants(&self, num_layers: usize) -> crate::error::Result<Vec<AttentionVariant>> {
        self.validate(num_layers)?;
        Ok((0..num_layers)
            .map(|layer| AttentionVariant {
                normalizer: self.normalizer,
                blur: self
                    .blur
                    .as_ref()
                    .filter(|b| b.applies_to(layer))
                    .map(|b| (b.target, b.blur())),
                localness: self.localness.clone().filter(|l| l.applies_to(layer)),
            })
            .collect())
    }
}
