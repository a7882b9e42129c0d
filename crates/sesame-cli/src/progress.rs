//! Progress reporting for long jobs: a bar with loss, learning rate and examples/s on a terminal, plain log
//! lines otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sesame_core::kernels::KernelCounts;
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

    /// Whether training started: `finetune` returns a run that another process finished without starting.
    pub fn started(&self) -> bool {
        self.bar.is_some()
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) if self.terminal => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }
}

/// One line on the GPU runtime's kernel work: what was compiled, loaded from the cache and tuned.
pub fn kernel_summary(kernels: Option<KernelCounts>) -> String {
    match kernels {
        Some(k) => format!(
            "{} kernels compiled, {} loaded from the kernel cache, {} autotune runs",
            k.compiled, k.cache_hits, k.autotune_runs
        ),
        None => "kernel work not counted".into(),
    }
}

impl TrainObserver for TrainProgress {
    fn on_warmup_start(&mut self, shapes: &[[usize; 2]]) {
        let listed: Vec<String> = shapes.iter().map(|[b, n]| format!("{b}×{n}")).collect();
        let cache = match sesame_core::kernels::cache_dir() {
            Some(dir) => format!("kernel cache {}", dir.display()),
            None => "no kernel cache".into(),
        };
        self.say(&format!(
            "[{}] compiling GPU kernels: {} planned batch shape(s) ({}) run once before training; {cache} (a \
             first run on a machine takes a minute or more, later runs load what is cached)",
            self.label,
            shapes.len(),
            listed.join(", ")
        ));
        let bar = bar(shapes.len() as u64, "shapes");
        bar.set_prefix(self.label.clone());
        self.bar = Some(bar);
    }

    fn on_warmup_step(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn on_warmup_end(&mut self, seconds: f64, kernels: Option<KernelCounts>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.say(&format!(
            "[{}] GPU kernels ready after {seconds:.1} s: {}",
            self.label,
            kernel_summary(kernels)
        ));
    }

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
