//! Running a fine-tuned model over a tokenised set: logits, classes or values, SE gates, and the prediction
//! table written beside an exported model.

use sesame_core::ops::host::to_host;
use sesame_core::SequenceClassifier;
use sesame_core::SesameBackend;

use crate::batching::{Padding, TokenizedSet};
use crate::error::TrainError;
use crate::metrics::Predictions;
use crate::tasks::{Label, Task};

/// Predictions of a model on a set, in file order.
#[derive(Debug, Clone)]
pub struct ModelOutputs {
    /// Raw outputs `[n][num_labels]`.
    pub logits: Vec<Vec<f32>>,
    /// SE gate per example and layer `[n][L]`; empty when the model has no gate.
    pub gates: Vec<Vec<f32>>,
}

impl ModelOutputs {
    /// The SE gate of each layer averaged over the examples (paper Fig. 4); `None` without a gate.
    pub fn mean_gates(&self) -> Option<Vec<f64>> {
        let first = self.gates.first()?;
        let mut sum = vec![0.0f64; first.len()];
        for row in &self.gates {
            for (s, g) in sum.iter_mut().zip(row) {
                *s += *g as f64;
            }
        }
        let n = self.gates.len() as f64;
        Some(sum.into_iter().map(|s| s / n).collect())
    }

    /// The standard deviation of each layer's SE gate across the examples (population, over `n`): the
    /// diagnostic of whether a gate depends on its input at all. `None` without a gate.
    pub fn gate_spread(&self) -> Option<Vec<f64>> {
        let mean = self.mean_gates()?;
        let mut sum = vec![0.0f64; mean.len()];
        for row in &self.gates {
            for ((s, g), m) in sum.iter_mut().zip(row).zip(&mean) {
                *s += (*g as f64 - m).powi(2);
            }
        }
        let n = self.gates.len() as f64;
        Some(sum.into_iter().map(|s| (s / n).sqrt()).collect())
    }

    /// Argmax class per example.
    pub fn classes(&self) -> Vec<usize> {
        self.logits
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 {
                            (i, v)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect()
    }

    /// The single output per example (regression).
    pub fn values(&self) -> Vec<f64> {
        self.logits
            .iter()
            .map(|row| row.first().copied().unwrap_or(0.0) as f64)
            .collect()
    }

    /// Predictions against the gold labels of `set`, for [`task_metrics`]. Unlabelled sets give `None`.
    /// The task loss on `set` (mean cross-entropy, or mean squared error for regression) as `transformers`
    /// reports `eval_loss`, computed in f64 from the logits; `None` when `set` is unlabelled.
    pub fn loss(&self, task: Task, set: &TokenizedSet) -> Option<f64> {
        if self.logits.is_empty() {
            return None;
        }
        let mut total = 0.0;
        for (row, label) in self.logits.iter().zip(&set.labels) {
            total += match (label, task.is_regression()) {
                (Some(Label::Value(v)), true) => (row[0] as f64 - *v as f64).powi(2),
                (Some(Label::Class(c)), false) => {
                    let max = row.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
                    let log_sum = row
                        .iter()
                        .map(|&x| (x as f64 - max).exp())
                        .sum::<f64>()
                        .ln();
                    log_sum + max - row.get(*c).copied()? as f64
                }
                _ => return None,
            };
        }
        Some(total / self.logits.len() as f64)
    }

    pub fn against(&self, task: Task, set: &TokenizedSet) -> Option<Predictions> {
        if task.is_regression() {
            let gold: Option<Vec<f64>> = set
                .labels
                .iter()
                .map(|l| match l {
                    Some(Label::Value(v)) => Some(*v as f64),
                    _ => None,
                })
                .collect();
            Some(Predictions::Values {
                predicted: self.values(),
                gold: gold?,
            })
        } else {
            let gold: Option<Vec<usize>> = set
                .labels
                .iter()
                .map(|l| match l {
                    Some(Label::Class(c)) => Some(*c),
                    _ => None,
                })
                .collect();
            Some(Predictions::Classes {
                predicted: self.classes(),
                gold: gold?,
            })
        }
    }
}

/// Runs `model` over `set` in order, in batches of `batch_size` (of the plan's rows under a shape plan, whose
/// filler rows are dropped from the outputs), without gradients.
pub fn predict<B: SesameBackend>(
    model: &SequenceClassifier<B>,
    set: &TokenizedSet,
    batch_size: usize,
    pad_id: u32,
    padding: &Padding,
    device: &B::Device,
) -> Result<ModelOutputs, TrainError> {
    let mut logits = Vec::with_capacity(set.len());
    let mut gates = Vec::new();
    let order: Vec<usize> = (0..set.len()).collect();
    let chunk_rows = padding.rows().unwrap_or(batch_size).max(1);
    // The vocabulary bounds are read once: the config is a copy (with ModernBERT's and DeBERTa's JSON object).
    let config = model.encoder_config();
    let (vocab_size, token_types) = (config.vocab_size(), config.token_types());
    for chunk in order.chunks(chunk_rows) {
        let batch = set.batch(chunk, pad_id, padding);
        batch.check_vocab(vocab_size, token_types)?;
        let out = model.forward(batch.to_input(device))?;
        // Rows past the chunk are filler rows of a planned shape.
        let real = chunk.len();
        if let Some(g) = out.gates {
            let [_, l] = g.dims();
            let data = to_host(g)?;
            gates.extend((0..real).map(|i| data[i * l..(i + 1) * l].to_vec()));
        }
        let [_, c] = out.logits.dims();
        let data = to_host(out.logits)?;
        logits.extend((0..real).map(|i| data[i * c..(i + 1) * c].to_vec()));
    }
    Ok(ModelOutputs { logits, gates })
}

/// `index\tprediction\tlabel` rows for a labelled set (label strings as in the task files).
pub fn prediction_table(task: Task, outputs: &ModelOutputs, set: &TokenizedSet) -> String {
    let mut out = String::from("index\tprediction\tlabel\n");
    let names = task.labels();
    let show = |l: &Option<Label>| match l {
        Some(Label::Class(c)) => names.get(*c).map_or(c.to_string(), |s| s.to_string()),
        Some(Label::Value(v)) => format!("{v:.3}"),
        None => String::new(),
    };
    if task.is_regression() {
        for (i, (v, l)) in outputs.values().iter().zip(&set.labels).enumerate() {
            out.push_str(&format!("{i}\t{v:.3}\t{}\n", show(l)));
        }
    } else {
        for (i, (c, l)) in outputs.classes().iter().zip(&set.labels).enumerate() {
            out.push_str(&format!(
                "{i}\t{}\t{}\n",
                names.get(*c).copied().unwrap_or("?"),
                show(l)
            ));
        }
    }
    out
}
