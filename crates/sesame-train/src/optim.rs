//! BERT's optimizer as `transformers`' `run_glue.py` runs it: `torch.optim.AdamW` (bias-corrected, decoupled
//! weight decay) with decay on weight matrices and embeddings only, global-norm gradient clipping, and an
//! optional separate learning rate for freshly initialised parameters (head, gate).
//!
//! burn's own `AdamW` applies one weight decay to every parameter and clips per tensor; this one follows the
//! recipe. Gradient clipping stays on the device: no host synchronisation inside a step. The element-wise work
//! is the backend's (`SesameBackend::adamw_update`, `SesameBackend::sum_of_squares`): one pass per parameter
//! on the CPU instead of about fifteen.

use std::collections::{HashMap, HashSet};

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};
use serde::{Deserialize, Serialize};
use sesame_core::fused::AdamWStep;
use sesame_core::ops::reciprocal;
use sesame_core::{SesameAutodiffBackend, SesameBackend};

use crate::error::TrainError;

/// Hyper-parameters of the optimizer (BERT's defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Decoupled weight decay, applied to parameters with two or more dimensions (weights, embeddings) and not
    /// to biases, LayerNorm weights or gate biases.
    pub weight_decay: f64,
    /// Global-norm clipping threshold; `None` disables clipping.
    pub max_grad_norm: Option<f64>,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-6,
            weight_decay: 0.01,
            max_grad_norm: Some(1.0),
        }
    }
}

impl AdamWConfig {
    /// Betas in [0, 1), ε > 0, weight decay ≥ 0, clipping threshold > 0, all finite.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field, message: String| Err(TrainError::setting(field, message));
        for (field, beta) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return bad(field, format!("must be in [0, 1), got {beta}"));
            }
        }
        if !(self.epsilon > 0.0 && self.epsilon.is_finite()) {
            return bad("epsilon", format!("must be positive, got {}", self.epsilon));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(
                "weight_decay",
                format!("must be zero or positive, got {}", self.weight_decay),
            );
        }
        if let Some(max) = self.max_grad_norm {
            if !(max > 0.0 && max.is_finite()) {
                return bad("max_grad_norm", format!("must be positive, got {max}"));
            }
        }
        Ok(())
    }
}

/// First and second moments of one parameter, flattened.
#[derive(Debug, Clone)]
pub struct Moments<B: Backend> {
    pub m: Tensor<B, 1>,
    pub v: Tensor<B, 1>,
}

/// The optimizer and its state.
#[derive(Debug, Clone)]
pub struct BertAdamW<B: AutodiffBackend> {
    pub config: AdamWConfig,
    /// Per parameter moments, on the inner (non-autodiff) backend.
    pub state: HashMap<ParamId, Moments<B::InnerBackend>>,
    /// Updates taken so far (for bias correction).
    pub steps: usize,
}

/// Learning rates of one update.
#[derive(Debug, Clone, Copy)]
pub struct StepRates {
    /// For pretrained parameters.
    pub lr: f64,
    /// For the parameters in the fresh set.
    pub fresh_lr: f64,
}

impl<B: SesameAutodiffBackend> BertAdamW<B> {
    pub fn new(config: AdamWConfig) -> Self {
        BertAdamW {
            config,
            state: HashMap::new(),
            steps: 0,
        }
    }

    /// One update of `model` with `grads`. Returns the model and the global gradient norm before clipping
    /// (a device scalar, read it only when logging).
    pub fn step<M: AutodiffModule<B>>(
        &mut self,
        model: M,
        grads: GradientsParams,
        rates: StepRates,
        fresh: &HashSet<ParamId>,
    ) -> (M, Option<Tensor<B::InnerBackend, 1>>) {
        let norm = Self::grad_norm(&model, &grads);
        let model = self.apply(model, grads, rates, fresh, norm.clone(), None);
        (model, norm)
    }

    /// The global norm of `grads` over `model`'s parameters, on the device; `None` without gradients.
    pub fn grad_norm<M: AutodiffModule<B>>(
        model: &M,
        grads: &GradientsParams,
    ) -> Option<Tensor<B::InnerBackend, 1>> {
        let mut norm = SquaredNorm::<B> { grads, total: None };
        model.visit(&mut norm);
        norm.total.map(|t| t.sqrt())
    }

    /// The update of [`step`](Self::step) from gradients whose global norm is `norm` ([`grad_norm`]): clipped
    /// to `max_grad_norm`, then AdamW. With `unscale`, the gradients are of a loss multiplied by `1 / unscale`
    /// (dynamic loss scaling): they and `norm` are multiplied by it first.
    ///
    /// [`grad_norm`]: Self::grad_norm
    pub fn apply<M: AutodiffModule<B>>(
        &mut self,
        model: M,
        mut grads: GradientsParams,
        rates: StepRates,
        fresh: &HashSet<ParamId>,
        norm: Option<Tensor<B::InnerBackend, 1>>,
        unscale: Option<f64>,
    ) -> M {
        let clip = match (self.config.max_grad_norm, &norm) {
            (Some(max), Some(n)) => {
                let n = match unscale {
                    Some(u) => n.clone().mul_scalar(u),
                    None => n.clone(),
                };
                Some(reciprocal(n + 1e-6).mul_scalar(max).clamp_max(1.0))
            }
            _ => None,
        };
        let scale = match (clip, unscale) {
            (Some(c), Some(u)) => Some(c.mul_scalar(u)),
            (None, Some(u)) => norm.map(|n| n.zeros_like().add_scalar(u)),
            (c, None) => c,
        };
        self.steps += 1;
        let mut mapper = AdamWMapper {
            optim: self,
            grads: &mut grads,
            scale,
            rates,
            fresh,
        };
        model.map(&mut mapper)
    }
}

/// Sums the squared gradients of every parameter on the device.
struct SquaredNorm<'a, B: SesameAutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: SesameAutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let sq =
                <B::InnerBackend as SesameBackend>::sum_of_squares(g.into_primitive().tensor());
            let sq = Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(sq));
            self.total = Some(match self.total.take() {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
}

struct AdamWMapper<'a, B: SesameAutodiffBackend> {
    optim: &'a mut BertAdamW<B>,
    grads: &'a mut GradientsParams,
    scale: Option<Tensor<B::InnerBackend, 1>>,
    rates: StepRates,
    fresh: &'a HashSet<ParamId>,
}

impl<B: SesameAutodiffBackend> ModuleMapper<B> for AdamWMapper<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<B::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let numel = shape.num_elements();
        let c = &self.optim.config;
        let lr = if self.fresh.contains(&id) {
            self.rates.fresh_lr
        } else {
            self.rates.lr
        };
        let t = self.optim.steps as i32;
        let step = AdamWStep {
            decay: (D >= 2 && c.weight_decay > 0.0).then_some(1.0 - lr * c.weight_decay),
            beta1: c.beta1,
            beta2: c.beta2,
            bias2_sqrt: (1.0 - c.beta2.powi(t)).sqrt(),
            epsilon: c.epsilon,
            step_size: lr / (1.0 - c.beta1.powi(t)),
        };
        let flat = |t: Tensor<B::InnerBackend, D>| t.reshape([numel]).into_primitive().tensor();
        let moments = self
            .optim
            .state
            .remove(&id)
            .map(|s| [s.m.into_primitive().tensor(), s.v.into_primitive().tensor()]);
        let scale = self.scale.clone().map(|s| s.into_primitive().tensor());
        let [p, m, v] = <B::InnerBackend as SesameBackend>::adamw_update(
            flat(tensor.inner()),
            flat(grad),
            moments,
            scale,
            step,
        );
        let float = |t| Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(t));
        self.optim.state.insert(
            id,
            Moments {
                m: float(m),
                v: float(v),
            },
        );
        let p = float(p);
        let mut updated = Tensor::<B, D>::from_inner(p.reshape(shape));
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}
