//! BERT's learning-rate schedule: linear warmup from 0, then linear decay to 0 (`get_linear_schedule_with_warmup`).

/// Multiplier of the peak learning rate for optimizer update `step` (0-based), as `transformers` computes it:
/// `step / warmup` during warmup, then `(total − step) / (total − warmup)`, never below 0.
pub fn linear_warmup_decay(step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return step as f64 / warmup.max(1) as f64;
    }
    let remaining = total.saturating_sub(step) as f64;
    (remaining / total.saturating_sub(warmup).max(1) as f64).max(0.0)
}

/// Warmup steps for a ratio of the total, rounded up as `transformers` does.
pub fn warmup_steps(ratio: f64, total: usize) -> usize {
    (ratio * total as f64).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_linear_decay_to_zero() {
        let (warmup, total) = (3, 10);
        let lr: Vec<f64> = (0..=10)
            .map(|s| linear_warmup_decay(s, warmup, total))
            .collect();
        assert_eq!(lr[0], 0.0);
        assert!((lr[1] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(lr[3], 1.0);
        assert!((lr[4] - 6.0 / 7.0).abs() < 1e-12);
        assert_eq!(lr[10], 0.0);
        assert_eq!(warmup_steps(0.1, 234), 24);
        assert_eq!(linear_warmup_decay(0, 0, 5), 1.0);
    }
}
