//! Where each parameter's starting value comes from, declared by the module that owns the parameter: a model
//! lists its fresh parameters by asking its parts ([`FreshParams`]), so renaming a field cannot move a
//! parameter into another learning-rate group or another file.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{backend::Backend, Tensor};

/// Where a parameter's starting value comes from. The one predicate for "fresh or pretrained": the loader's
/// report, the learner's parameter groups and the export all ask it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamOrigin {
    /// Part of the pretrained encoder: a checkpoint that lacks it is incomplete.
    Pretrained,
    /// The task head (`classifier.*`): fresh, and part of `BertForSequenceClassification`'s state dict.
    Head,
    /// A variant's own parameters (SE gate, scalar mix, localness): fresh, and known to sesame only.
    Variant,
}

impl ParamOrigin {
    /// Freshly initialised when starting from a pretrained encoder (trained at the head learning rate).
    pub fn is_fresh(self) -> bool {
        self != ParamOrigin::Pretrained
    }

    /// Whether `transformers`' `BertForSequenceClassification` has this parameter (else it goes to the side
    /// file `sesame.safetensors`).
    pub fn in_hugging_face_model(self) -> bool {
        self != ParamOrigin::Variant
    }
}

/// A model that knows which of its parameters do not come from a pretrained encoder. Every parameter it does
/// not list is [`ParamOrigin::Pretrained`].
pub trait FreshParams<B: Backend>: Module<B> {
    /// The fresh parameters and their origin.
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin>;
}

/// Every parameter of `module`, each with `origin`: how a module declares all it owns as fresh.
pub fn all_params_as<B: Backend, M: Module<B>>(
    module: &M,
    origin: ParamOrigin,
) -> impl Iterator<Item = (ParamId, ParamOrigin)> {
    let mut ids = ParamIds(Vec::new());
    module.visit(&mut ids);
    ids.0.into_iter().map(move |id| (id, origin))
}

/// Collects the ids of a module's float parameters (sesame's modules have no other trainable kind).
struct ParamIds(Vec<ParamId>);

impl<B: Backend> ModuleVisitor<B> for ParamIds {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.id);
    }
}
