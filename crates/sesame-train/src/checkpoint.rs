//! Training checkpoints: the model (every parameter, Hugging Face names, through the same store as the
//! export), the optimizer moments by parameter name, and the trainer state. Written with
//! [`RunDir::save_checkpoint`], so a checkpoint is complete or invisible.

use sesame_core::SesameAutodiffBackend;
use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sesame_core::io::weights::{param_table, to_safetensors};
use sesame_core::ops::host::to_host;
use sesame_core::SequenceClassifier;

use crate::error::TrainError;
use crate::optim::{BertAdamW, Moments};
use crate::run::{RunDir, SavedCheckpoint};
use crate::state::TrainerState;

const MODEL: &str = sesame_core::io::WEIGHTS_FILE;
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// When checkpoints are written and how many are kept (`transformers`' `save_steps` and
/// `save_total_limit`). A checkpoint is always written at the end of each epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavePolicy {
    /// Also every N optimizer updates; `None`: at epoch ends only.
    pub save_steps: Option<usize>,
    /// Keep the newest K checkpoints. One is enough to resume (a checkpoint is complete or invisible); more
    /// cost disk: model + two optimizer moments, three times the model's size each.
    pub save_total_limit: usize,
}

impl Default for SavePolicy {
    fn default() -> Self {
        SavePolicy {
            save_steps: Some(500),
            save_total_limit: 1,
        }
    }
}

impl SavePolicy {
    pub fn validate(&self) -> Result<(), TrainError> {
        if self.save_steps == Some(0) {
            return Err(TrainError::setting("save_steps", "must be at least 1"));
        }
        if self.save_total_limit == 0 {
            return Err(TrainError::setting(
                "save_total_limit",
                "must be at least 1 (a run keeps its latest checkpoint)",
            ));
        }
        Ok(())
    }
}

/// `state.json` of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    trainer: TrainerState,
    optimizer_steps: usize,
}

/// The key of a moment tensor in `optimizer.safetensors`: `m/<parameter>` or `v/<parameter>`.
fn moment_key(moment: &str, param: &str) -> String {
    format!("{moment}/{param}")
}

/// Writes model, optimizer moments (by parameter name) and trainer state as checkpoint `name`, keeping the
/// newest `keep` checkpoints.
pub(crate) fn save_checkpoint<B: SesameAutodiffBackend>(
    run: &RunDir,
    name: &str,
    model: &SequenceClassifier<B>,
    optim: &BertAdamW<B>,
    state: &TrainerState,
    keep: usize,
) -> Result<SavedCheckpoint, TrainError> {
    let model_bytes = to_safetensors(model, model.family(), |_| true)?.unwrap_or_default();
    let mut moments: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for param in param_table(model, model.family()) {
        if let Some(m) = optim.state.get(&param.id) {
            for (moment, t) in [("m", &m.m), ("v", &m.v)] {
                let data = to_host(t.clone())?;
                let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
                moments.push((moment_key(moment, &param.name), vec![data.len()], bytes));
            }
        }
    }
    let views = moments
        .iter()
        .map(|(key, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|view| (key.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrainError::run(run.file(OPTIMIZER), e.to_string()))?;
    let meta = HashMap::from([("optimizer_steps".to_string(), optim.steps.to_string())]);
    let optimizer_bytes = safetensors::serialize(views, Some(meta))
        .map_err(|e| TrainError::run(run.file(OPTIMIZER), e.to_string()))?;
    let state_bytes = serde_json::to_vec_pretty(&CheckpointState {
        trainer: state.clone(),
        optimizer_steps: optim.steps,
    })
    .map_err(|source| TrainError::Serialize {
        path: run.file(STATE),
        source,
    })?;
    run.save_checkpoint(
        name,
        &[
            (MODEL, model_bytes),
            (OPTIMIZER, optimizer_bytes),
            (STATE, state_bytes),
        ],
        keep,
    )
}

/// Loads a checkpoint written by [`save_checkpoint`]; a missing or damaged file is an error naming it, and so
/// is a model file that lacks any parameter (fresh or pretrained).
pub(crate) fn restore_checkpoint<B: SesameAutodiffBackend>(
    dir: &Path,
    model: &mut SequenceClassifier<B>,
    optim: &mut BertAdamW<B>,
    state: &mut TrainerState,
    device: &B::Device,
) -> Result<(), TrainError> {
    let state_path = dir.join(STATE);
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| TrainError::run(&state_path, e.to_string()))?;
    let saved: CheckpointState =
        serde_json::from_str(&text).map_err(|e| TrainError::run(&state_path, e.to_string()))?;
    *state = saved.trainer;
    optim.steps = saved.optimizer_steps;

    let model_path = dir.join(MODEL);
    model
        .load_files(std::slice::from_ref(&model_path))?
        .require_all(&model_path)?;

    let moments_path = dir.join(OPTIMIZER);
    let bytes =
        std::fs::read(&moments_path).map_err(|e| TrainError::run(&moments_path, e.to_string()))?;
    let moments = SafeTensors::deserialize(&bytes)
        .map_err(|e| TrainError::run(&moments_path, format!("not a readable checkpoint ({e})")))?;
    let read = |key: &str| -> Result<Option<Tensor<B::InnerBackend, 1>>, TrainError> {
        let Ok(view) = moments.tensor(key) else {
            return Ok(None);
        };
        if view.dtype() != Dtype::F32 {
            return Err(TrainError::run(
                &moments_path,
                format!("{key} is {:?}, expected F32", view.dtype()),
            ));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let n = data.len();
        Ok(Some(Tensor::from_data(TensorData::new(data, [n]), device)))
    };
    optim.state.clear();
    for param in param_table(model, model.family()) {
        match (
            read(&moment_key("m", &param.name))?,
            read(&moment_key("v", &param.name))?,
        ) {
            (Some(m), Some(v)) => {
                optim.state.insert(param.id, Moments { m, v });
            }
            (None, None) if optim.steps == 0 => {}
            _ => {
                return Err(TrainError::run(
                    &moments_path,
                    format!(
                        "optimizer state for `{}` is missing or incomplete",
                        param.name
                    ),
                ))
            }
        }
    }
    Ok(())
}
