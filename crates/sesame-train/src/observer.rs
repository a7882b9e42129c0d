//! What the training loop tells the outside world while it runs (the command line draws progress bars from
//! it; tests and library users may ignore it).

use std::collections::BTreeMap;

use sesame_core::kernels::KernelCounts;

use crate::run::StepLog;

/// Receives progress.
pub trait TrainObserver {
    /// Before the planned shapes run once each (GPU backends): `shapes` are `[rows, length]`.
    fn on_warmup_start(&mut self, _shapes: &[[usize; 2]]) {}
    /// After `done` of the planned shapes ran.
    fn on_warmup_step(&mut self, _done: usize) {}
    /// After the warm-up: its seconds, and the process's kernel work so far when something counts it.
    fn on_warmup_end(&mut self, _seconds: f64, _kernels: Option<KernelCounts>) {}
    fn on_start(&mut self, _total_steps: usize, _done: usize) {}
    fn on_step(&mut self, _log: &StepLog) {}
    fn on_eval(&mut self, _epoch: usize, _step: usize, _metrics: &BTreeMap<String, f64>) {}
    fn on_message(&mut self, _message: &str) {}
    /// Asked after each epoch's checkpoint is written: `true` ends the run there (it can be resumed).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainObserver for Silent {}
