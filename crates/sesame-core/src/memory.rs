//! How much memory a model will take, estimated from its config before anything is allocated, and the limit it
//! must fit: `--max-memory` where the user sets one ([`set_limit`]), else what the machine has available now.
//!
//! The estimate counts parameters exactly (the module tree's tensors, for the config's sizes) and activations
//! roughly (the tensors a training step keeps for the backward pass); it is there to refuse a model that cannot
//! fit with a message instead of an abort in the allocator, not to plan a batch to the megabyte. The limit is
//! process-wide, as an allocator's is: the command line sets it once, and every load checks against it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::bert::config::BertConfig;
use crate::error::{CoreError, Result};

/// `u64::MAX` while no limit is set.
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Bytes of one f32 value.
const F32: u128 = 4;

/// Sets the memory a model may take in this process (`None`: what the machine has available).
pub fn set_limit(bytes: Option<u64>) {
    LIMIT.store(bytes.unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Where a limit came from, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// `--max-memory` (or [`set_limit`]).
    User,
    /// The memory the operating system reports as available (the cgroup's remainder where that is smaller).
    Available,
}

/// The limit in force: the user's, else the machine's available memory (`None` where it cannot be read).
pub fn limit() -> Option<(u64, LimitSource)> {
    match LIMIT.load(Ordering::Relaxed) {
        u64::MAX => available().map(|b| (b, LimitSource::Available)),
        bytes => Some((bytes, LimitSource::User)),
    }
}

/// `MemAvailable` of `/proc/meminfo`, lowered to the cgroup's remaining allowance where there is one.
fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let host = kib.saturating_mul(1024);
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{name}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let cgroup =
        read("memory.max").map(|max| max.saturating_sub(read("memory.current").unwrap_or(0)));
    Some(cgroup.map_or(host, |c| c.min(host)))
}

/// A model's size as its config states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSize {
    /// Parameters of the encoder and a classification head with `labels` outputs.
    pub parameters: u128,
    hidden: u128,
    intermediate: u128,
    layers: u128,
    heads: u128,
}

impl ModelSize {
    /// A size from an architecture's own count (`parameters`) and the widths that set its activations;
    /// `intermediate` is the width of the feed-forward's widest tensor (2 × `intermediate_size` for a GLU).
    pub(crate) fn new(
        parameters: u128,
        hidden: u128,
        intermediate: u128,
        layers: u128,
        heads: u128,
    ) -> Self {
        ModelSize {
            parameters,
            hidden,
            intermediate,
            layers,
            heads,
        }
    }

    /// The parameter count of `config`'s encoder with a dense head of `labels` outputs (the largest head of the
    /// families), in wide integers: a hostile config's product must not wrap.
    pub fn of(config: &BertConfig, labels: usize) -> Self {
        let n = |v: usize| v as u128;
        let (h, e, i, l) = (
            n(config.hidden_size),
            n(config.embedding_width()),
            n(config.intermediate_size),
            n(config.num_hidden_layers),
        );
        let tables =
            n(config.vocab_size) + n(config.max_position_embeddings) + n(config.type_vocab_size);
        let embeddings = tables * e + 2 * e + if e == h { 0 } else { e * h + h };
        let layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 4 * h;
        let head = 2 * (h * h + h) + h * n(labels) + n(labels);
        ModelSize::new(
            embeddings + l * layer + head,
            h,
            i,
            l,
            n(config.num_attention_heads),
        )
    }

    /// The model's weights in f32.
    pub fn weight_bytes(&self) -> u128 {
        self.parameters * F32
    }

    /// A training step on `batch` sequences of `len` tokens: weights, gradients and Adam's two moments, plus the
    /// activations kept for the backward pass (per layer about twelve `[batch, len, hidden]` tensors, two
    /// `[batch, len, intermediate]` ones and three `[batch, heads, len, len]` ones: scores, probabilities and
    /// their dropout mask).
    pub fn training_bytes(&self, batch: usize, len: usize) -> u128 {
        let tokens = batch as u128 * len as u128;
        let per_layer = tokens * (12 * self.hidden + 2 * self.intermediate)
            + 3 * tokens * len as u128 * self.heads;
        4 * self.weight_bytes() + self.layers * per_layer * F32
    }
}

/// Ok when `needed` bytes fit the limit in force; else an error with the estimate, the limit and where the
/// limit came from. `what` says what needs the memory ("loading the model in model/", …).
pub fn require(needed: u128, what: &str) -> Result<()> {
    let Some((limit, source)) = limit() else {
        return Ok(());
    };
    if needed <= u128::from(limit) {
        return Ok(());
    }
    Err(CoreError::OutOfMemory {
        what: what.to_string(),
        needed: human_bytes(needed),
        limit: format!(
            "{} ({})",
            human_bytes(u128::from(limit)),
            match source {
                LimitSource::User => "--max-memory",
                LimitSource::Available =>
                    "available on this machine now; --max-memory sets another limit",
            }
        ),
    })
}

/// `bytes` in binary units with three significant digits (`1.50 GiB`).
pub fn human_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

/// A size as a user writes it: bytes, or a number with `K`, `M`, `G`, `T` (powers of 1024; `KiB`, `GB`, … are
/// read the same). `None` for anything else.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let bytes = number * (1u64 << shift) as f64;
    (number.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_minilm_parameters() {
        // all-MiniLM-L6-v2: 22 713 216 encoder parameters (embeddings, 6 layers, pooler), as `transformers`
        // counts them; the head here adds a second dense layer of 384 × 384 + 384 and 2 × 384 + 2.
        let size = ModelSize::of(&BertConfig::minilm_l6(), 2);
        assert_eq!(size.parameters, 22_713_216 + 147_840 + 770);
    }

    #[test]
    fn sizes_parse_as_users_write_them() {
        assert_eq!(parse_bytes("512"), Some(512));
        assert_eq!(parse_bytes("8G"), Some(8 << 30));
        assert_eq!(parse_bytes("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_bytes("300 MB"), Some(300 << 20));
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(human_bytes(3 << 29), "1.50 GiB");
    }

    #[test]
    fn a_limit_refuses_what_exceeds_it() {
        set_limit(Some(1 << 20));
        let refused = require(2 << 20, "loading a test model");
        let allowed = require(1 << 19, "loading a test model");
        set_limit(None);
        let message = refused.expect_err("2 MiB must not fit 1 MiB").to_string();
        assert!(
            message.contains("2.00 MiB") && message.contains("--max-memory"),
            "{message}"
        );
        assert!(allowed.is_ok());
    }
}
