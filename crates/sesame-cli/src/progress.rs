//! Progress reporting for long jobs: a bar with loss, learning rate and examples/s on a terminal, plain log
//! lines otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sesame_train::{StepLog, TrainObserver};

/// A bar counting `total` items of `unit`, hidden when stderr is not a terminal.
pub fn bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {unit} {{msg}} (eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// Draws training progress; prints one line per log step and evaluation when not on a terminal.
pub struct TrainProgress {
    bar: Option<ProgressBar>,
    label: String,
    terminal: bool,
}

impl TrainProgress {
    /// `label` prefixes every line (e.g. the variant name).
    pub fn new(label: impl Into<String>) -> Self {
        TrainProgress {
            bar: None,
            label: label.into(),
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) if self.terminal => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

impl TrainObserver for TrainProgress {
    fn on_start(&mut self, total: usize, done: usize) {
        let bar = bar(total as u64, "steps");
        bar.set_position(done as u64);
        bar.set_prefix(self.label.clone());
        self.bar = Some(bar);
    }

    fn on_step(&mut self, log: &StepLog) {
        let msg = format!(
            "loss {:.4} lr {:.2e} {:.1} ex/s",
            log.loss, log.learning_rate, log.examples_per_second
        );
        if let Some(bar) = &self.bar {
            bar.set_position(log.step as u64);
            bar.set_message(msg.clone());
        }
        if !self.terminal {
            eprintln!(
                "[{}] step {}/{} epoch {} {msg}",
                self.label,
                log.step,
                log.total_steps,
                log.epoch + 1
            );
        }
    }

    fn on_eval(&mut self, epoch: usize, step: usize, metrics: &BTreeMap<String, f64>) {
        let shown: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        self.say(&format!(
            "[{}] eval epoch {} step {step}: {}",
            self.label,
            epoch + 1,
            shown.join(", ")
        ));
    }

    fn on_message(&mut self, message: &str) {
        self.say(&format!("[{}] {message}", self.label));
    }
}

impl Drop for TrainProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
