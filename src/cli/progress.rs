//! Progress reporting: a bar on a terminal, nothing on a pipe (indicatif hides itself there).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` items of `unit` with rate and ETA.
pub fn bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
