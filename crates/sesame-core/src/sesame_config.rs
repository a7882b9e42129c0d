//! `SesameConfig`: everything that makes a sesame model differ from plain BERT, and the named presets
//! (`baseline`, `sesamebert`, `se`, `blur`, `ssaf`) that the command line, the examples and the experiment grids
//! all start from.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::methods::blur::{BlurBoundary, BlurConfig, BlurTarget};
use crate::methods::guiding::GuidingConfig;
use crate::methods::se::{Aggregation, LayerAggregationConfig, SeConfig};
use crate::methods::variant::{AttentionConfig, ScoreNormalizer};

/// A named starting point for a model variant; flags or config fields refine it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Plain BERT fine-tuning.
    #[default]
    Baseline,
    /// SE over layers + context blur (k = 3, σ = 0.3), last layer, as the reference code.
    Sesamebert,
    /// SesameBERT's SE gate only.
    Se,
    /// SesameBERT's context blur only.
    Blur,
    /// SSAF: sparsegen-lin attention instead of softmax, λ = −5 (the middle of the −7 … −3 range the authors'
    /// notes report working well; the per-dataset values were not published, docs/methods.md).
    Ssaf,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Baseline,
        Preset::Sesamebert,
        Preset::Se,
        Preset::Blur,
        Preset::Ssaf,
    ];

    /// The preset's name as written on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Baseline => "baseline",
            Preset::Sesamebert => "sesamebert",
            Preset::Se => "se",
            Preset::Blur => "blur",
            Preset::Ssaf => "ssaf",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// The configuration of this preset for a head with `num_labels` outputs.
    pub fn config(self, num_labels: usize) -> SesameConfig {
        SesameConfig::preset(self, num_labels)
    }
}

/// Everything that makes a sesame model differ from plain BERT, plus the head size. Serialisable, so that a
/// run records exactly what it trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SesameConfig {
    /// Attention variants inside every layer (blur, sparsegen-lin, localness).
    #[serde(default)]
    pub attention: AttentionConfig,
    /// SE gate and layer aggregation.
    #[serde(default)]
    pub layers: LayerAggregationConfig,
    /// Attention-guiding losses added to the task loss.
    #[serde(default)]
    pub guiding: Option<GuidingConfig>,
    /// Output size: the number of classes, or 1 for regression (STS-B).
    pub num_labels: usize,
}

impl SesameConfig {
    /// The named preset for a head with `num_labels` outputs.
    pub fn preset(preset: Preset, num_labels: usize) -> Self {
        match preset {
            Preset::Baseline => Self::baseline(num_labels),
            Preset::Sesamebert => Self::sesamebert(num_labels),
            Preset::Se => Self::se(num_labels),
            Preset::Blur => Self::blur(num_labels),
            Preset::Ssaf => Self::ssaf(num_labels, -5.0),
        }
    }

    /// SesameBERT's SE gate over layers alone (softmax attention, no blur).
    pub fn se(num_labels: usize) -> Self {
        SesameConfig {
            attention: AttentionConfig::default(),
            ..Self::sesamebert(num_labels)
        }
    }

    /// SesameBERT's context blur alone (last layer, no gate).
    pub fn blur(num_labels: usize) -> Self {
        SesameConfig {
            layers: LayerAggregationConfig::default(),
            ..Self::sesamebert(num_labels)
        }
    }

    /// SSAF: sparsegen-lin attention with sparsity coefficient `lambda` (< 1; 0 is sparsemax).
    pub fn ssaf(num_labels: usize, lambda: f64) -> Self {
        let mut config = Self::baseline(num_labels);
        config.attention.normalizer = ScoreNormalizer::SparsegenLin { lambda };
        config
    }

    /// Plain BERT fine-tuning: last layer, no gate, softmax attention.
    pub fn baseline(num_labels: usize) -> Self {
        SesameConfig {
            attention: AttentionConfig::default(),
            layers: LayerAggregationConfig::default(),
            guiding: None,
            num_labels,
        }
    }

    /// SesameBERT as the reference code runs it: context blur (k = 3, σ = 0.3) in every layer, SE gate over
    /// layers with the rescaled last layer as sequence output. The squeeze is the masked mean (sesame's
    /// default under dynamic padding, see docs/methods.md); the blur keeps the reference boundary.
    pub fn sesamebert(num_labels: usize) -> Self {
        SesameConfig {
            attention: AttentionConfig {
                blur: Some(BlurConfig {
                    target: BlurTarget::Context,
                    kernel_size: 3,
                    sigma: 0.3,
                    boundary: BlurBoundary::PaddedEnd,
                    layers: None,
                }),
                ..AttentionConfig::default()
            },
            layers: LayerAggregationConfig {
                se: Some(SeConfig::default()),
                aggregation: Aggregation::Last,
            },
            guiding: None,
            num_labels,
        }
    }

    pub fn validate(&self, num_layers: usize) -> Result<()> {
        if self.num_labels == 0 {
            return Err(CoreError::Setting("num_labels must be at least 1".into()));
        }
        self.attention.validate(num_layers)?;
        self.layers.validate(num_layers)?;
        if let Some(g) = &self.guiding {
            if !crate::error::is_positive(g.tau) {
                return Err(CoreError::Setting(format!(
                    "guiding.tau must be positive, got {}",
                    g.tau
                )));
            }
        }
        Ok(())
    }

    /// One output unit means regression (MSE), more mean classification (cross-entropy).
    pub fn is_regression(&self) -> bool {
        self.num_labels == 1
    }
}
