//! Each variant against the baseline, seed by seed: the same seed means the same data order, dropout stream and
//! initial head, so the per-seed difference removes most of what varies between runs. The mean difference gets
//! a two-sided 95 % t interval, and the verdict says in words whether 0 lies outside it.

use std::fmt::Write as _;

use super::config::Experiment;
use super::runs::{chosen_sigma, CellScores, Collected};
use sesame_train::metrics::selection_metric;
use sesame_train::Task;

/// The paired difference (variant − baseline) over the seeds both have finished.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Paired {
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation of the per-seed differences.
    pub sd: f64,
    /// The 95 % t interval of the mean difference.
    pub low: f64,
    pub high: f64,
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (tabulated to 30, then the Cornish-Fisher
/// expansion, within 0.002 of the exact value there).
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let (z, v) = (1.959964f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * v)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
        }
    }
}

/// `variant − baseline` over their common seeds; `None` with fewer than two.
pub fn paired(variant: &CellScores, baseline: &CellScores) -> Option<Paired> {
    let diffs: Vec<f64> = variant
        .seeds
        .iter()
        .zip(&variant.scores)
        .filter_map(|(seed, v)| {
            let i = baseline.seeds.iter().position(|s| s == seed)?;
            Some(v - baseline.scores[i])
        })
        .collect();
    let n = diffs.len();
    if n < 2 {
        return None;
    }
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let half = t_975(n - 1) * sd / (n as f64).sqrt();
    Some(Paired {
        n,
        mean,
        sd,
        low: mean - half,
        high: mean + half,
    })
}

/// "better", "worse", or that 0 lies inside the interval.
pub fn verdict(p: &Paired) -> String {
    if p.low > 0.0 {
        "better".into()
    } else if p.high < 0.0 {
        "worse".into()
    } else {
        format!("no difference detectable with {} seeds", p.n)
    }
}

/// The cell of a variant at its chosen σ.
fn cell<'a>(collected: &'a Collected, e: &str, t: Task, label: &str) -> Option<&'a CellScores> {
    let sigma = chosen_sigma(collected, e, t, label)?;
    collected.get(&(e.to_string(), t, label.to_string(), sigma))
}

/// The table of paired differences against the experiment's baseline, when it names one. Returns how many
/// intervals it printed.
pub fn render(md: &mut String, e: &Experiment, collected: &Collected) -> usize {
    let Some(baseline) = &e.baseline else {
        return 0;
    };
    let from = e.baseline_from.as_deref().unwrap_or(&e.id);
    let tasks: Vec<Task> = e.tasks.iter().filter_map(|t| Task::parse(t)).collect();
    let mut rows = String::new();
    let mut count = 0;
    for v in e
        .variants
        .iter()
        .filter(|v| !(from == e.id && &v.label == baseline))
    {
        let mut row = format!("| {} |", v.label);
        for &t in &tasks {
            let pair = cell(collected, &e.id, t, &v.label)
                .zip(cell(collected, from, t, baseline))
                .and_then(|(a, b)| paired(a, b));
            let text = match pair {
                Some(p) => {
                    count += 1;
                    format!(
                        "{:+.2} [{:+.2}, {:+.2}] {}",
                        100.0 * p.mean,
                        100.0 * p.low,
                        100.0 * p.high,
                        verdict(&p)
                    )
                }
                None => "—".into(),
            };
            let _ = write!(row, " {text} |");
        }
        let _ = writeln!(rows, "{row}");
    }
    let source = if from == e.id {
        String::new()
    } else {
        format!(" of `{from}`")
    };
    let _ = writeln!(
        md,
        "Against `{baseline}`{source}, seed by seed: the mean of the per-seed differences in points, its 95 % t \
         interval, and the verdict (\"better\" or \"worse\" when the interval excludes 0). The intervals are not \
         corrected for the number of comparisons: of {count} intervals, about {:.1} would exclude 0 by chance \
         alone if no method made any difference.\n",
        count as f64 * 0.05
    );
    let mut header = String::from("| variant |");
    for &t in &tasks {
        let _ = write!(header, " {} Δ {} |", t.name(), selection_metric(t));
    }
    let _ = writeln!(md, "{header}\n|---|{}", "---|".repeat(tasks.len()));
    let _ = writeln!(md, "{rows}");
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(seeds: &[u64], scores: &[f64]) -> CellScores {
        CellScores {
            seeds: seeds.to_vec(),
            scores: scores.to_vec(),
            ..CellScores::default()
        }
    }

    #[test]
    fn paired_differences_use_common_seeds_and_the_t_interval() {
        // Differences 0.02, 0.06, 0.01 on seeds 1-3; seed 4 has no baseline.
        let variant = cell(&[1, 2, 3, 4], &[0.62, 0.66, 0.58, 0.9]);
        let baseline = cell(&[3, 1, 2], &[0.57, 0.60, 0.60]);
        let p = paired(&variant, &baseline).expect("three pairs");
        assert_eq!(p.n, 3);
        assert!((p.mean - 0.03).abs() < 1e-12);
        let sd = 0.0007f64.sqrt(); // √((0.01² + 0.03² + 0.02²) / 2)
        assert!((p.sd - sd).abs() < 1e-12, "{}", p.sd);
        // 0.03 ± 4.303 · sd / √3: from −0.036 to 0.096.
        let half = 4.303 * sd / 3f64.sqrt();
        assert!((p.low - (0.03 - half)).abs() < 1e-12 && (p.high - (0.03 + half)).abs() < 1e-12);
        assert_eq!(verdict(&p), "no difference detectable with 3 seeds");
        let clear = paired(
            &cell(&[1, 2, 3], &[0.7, 0.71, 0.72]),
            &cell(&[1, 2, 3], &[0.6, 0.6, 0.6]),
        );
        assert_eq!(verdict(&clear.expect("pairs")), "better");
        let worse = paired(
            &cell(&[1, 2, 3], &[0.5, 0.51, 0.5]),
            &cell(&[1, 2, 3], &[0.6, 0.6, 0.6]),
        );
        assert_eq!(verdict(&worse.expect("pairs")), "worse");
        assert!(paired(&cell(&[1], &[0.5]), &cell(&[1], &[0.6])).is_none());
    }

    #[test]
    fn t_quantiles_match_the_tables_beyond_thirty() {
        // Exact values: df 40 → 2.0211, 60 → 2.0003, 120 → 1.9799.
        for (df, want) in [(4, 2.776), (40, 2.0211), (60, 2.0003), (120, 1.9799)] {
            assert!((t_975(df) - want).abs() < 2e-3, "df {df}: {}", t_975(df));
        }
    }
}
