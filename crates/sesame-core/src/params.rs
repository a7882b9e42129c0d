//! Walking a model's parameters by their Hugging Face names: one traversal per module serves loading a
//! checkpoint, exporting one, and naming optimizer state.

use burn::module::{Param, ParamId};
use burn::tensor::{backend::Backend, Tensor};

use crate::checkpoint::ParamLoader;
use crate::error::{CoreError, Result};

/// Whether a pretrained BERT checkpoint is expected to hold a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Part of `BertModel`: absent from a checkpoint means "missing".
    Pretrained,
    /// A head, gate or variant parameter: freshly initialised unless a (sesame) checkpoint has it.
    Fresh,
}

/// Something that wants to see (and possibly replace) every named parameter.
pub trait ParamVisitor<B: Backend> {
    /// A 2-D parameter. `linear` says it is an `nn.Linear` weight, stored `[out, in]` by Hugging Face and
    /// `[in, out]` by burn.
    fn matrix(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, 2>>,
        linear: bool,
        kind: ParamKind,
    ) -> Result<()>;
    /// A 1-D parameter (bias, LayerNorm weight, gate bias).
    fn vector(&mut self, key: &str, param: &mut Param<Tensor<B, 1>>, kind: ParamKind)
        -> Result<()>;
}

impl<B: Backend> ParamVisitor<B> for ParamLoader<'_, B> {
    fn matrix(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, 2>>,
        linear: bool,
        kind: ParamKind,
    ) -> Result<()> {
        let [rows, cols] = param.shape().dims();
        let stored = if linear { [cols, rows] } else { [rows, cols] };
        let found = match kind {
            ParamKind::Pretrained => self.float(key, stored)?,
            ParamKind::Fresh => self.optional_float(key, stored)?,
        };
        if let Some(t) = found {
            let t = if linear { t.transpose() } else { t };
            *param = Param::initialized(param.id, t.require_grad());
        }
        Ok(())
    }

    fn vector(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, 1>>,
        kind: ParamKind,
    ) -> Result<()> {
        let dims: [usize; 1] = param.shape().dims();
        let found = match kind {
            ParamKind::Pretrained => self.float(key, dims)?,
            ParamKind::Fresh => self.optional_float(key, dims)?,
        };
        if let Some(t) = found {
            *param = Param::initialized(param.id, t.require_grad());
        }
        Ok(())
    }
}

/// One exported tensor: Hugging Face name, shape and f32 values (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Collects every parameter in Hugging Face layout, for writing a `model.safetensors`.
#[derive(Debug, Default)]
pub struct ParamExporter {
    pub tensors: Vec<NamedTensor>,
}

fn host<B: Backend, const D: usize>(key: &str, t: Tensor<B, D>) -> Result<NamedTensor> {
    let shape = t.dims().to_vec();
    let data = t
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| CoreError::Invalid(format!("cannot read parameter {key}: {e:?}")))?;
    Ok(NamedTensor {
        name: key.to_string(),
        shape,
        data,
    })
}

impl<B: Backend> ParamVisitor<B> for ParamExporter {
    fn matrix(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, 2>>,
        linear: bool,
        _: ParamKind,
    ) -> Result<()> {
        let t = param.val();
        let t = if linear { t.transpose() } else { t };
        self.tensors.push(host(key, t)?);
        Ok(())
    }

    fn vector(&mut self, key: &str, param: &mut Param<Tensor<B, 1>>, _: ParamKind) -> Result<()> {
        self.tensors.push(host(key, param.val())?);
        Ok(())
    }
}

impl ParamExporter {
    /// The collected tensors as safetensors bytes (F32), with `metadata` in the header.
    pub fn to_safetensors(
        &self,
        metadata: std::collections::HashMap<String, String>,
    ) -> Result<Vec<u8>> {
        write_safetensors(&self.tensors, metadata)
    }
}

/// Serialises named f32 tensors.
pub fn write_safetensors(
    tensors: &[NamedTensor],
    metadata: std::collections::HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| t.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| CoreError::Invalid(format!("cannot serialise tensors: {e}")))?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| CoreError::Invalid(format!("cannot serialise tensors: {e}")))
}

/// Records which name each parameter id has (for optimizer state saved by name).
#[derive(Debug, Default)]
pub struct ParamNames {
    pub names: Vec<(ParamId, String)>,
}

impl<B: Backend> ParamVisitor<B> for ParamNames {
    fn matrix(
        &mut self,
        key: &str,
        param: &mut Param<Tensor<B, 2>>,
        _: bool,
        _: ParamKind,
    ) -> Result<()> {
        self.names.push((param.id, key.to_string()));
        Ok(())
    }

    fn vector(&mut self, key: &str, param: &mut Param<Tensor<B, 1>>, _: ParamKind) -> Result<()> {
        self.names.push((param.id, key.to_string()));
        Ok(())
    }
}
