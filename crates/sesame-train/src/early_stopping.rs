//! Early stopping, as `transformers`' `EarlyStoppingCallback`: a run stops once its dev selection metric has not
//! improved for `patience` evaluations in a row. The counter lives in the run's state ([`TrainerState`]), which
//! every checkpoint saves, so a resumed run counts on from where it was.

use crate::state::TrainerState;

pub struct EarlyStopping {
    /// Evaluations without improvement that end the run; `None`: never stop early.
    pub patience: Option<usize>,
}

impl EarlyStopping {
    /// Whether the run has waited as long as it may for a better dev metric.
    pub fn spent(&self, state: &TrainerState) -> bool {
        self.patience
            .is_some_and(|patience| state.patience_counter >= patience)
    }
}
