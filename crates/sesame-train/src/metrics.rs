//! GLUE metrics (methods.md §6): accuracy, F1, Matthews correlation (binary and Gorodkin's K-class R3),
//! Pearson and Spearman correlation, per-task scores and the GLUE score.

use std::collections::BTreeMap;

use crate::tasks::Task;

/// Fraction of equal pairs; 0 for empty input.
pub fn accuracy(predicted: &[usize], gold: &[usize]) -> f64 {
    if gold.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(gold).filter(|(p, g)| p == g).count() as f64 / gold.len() as f64
}

/// F1 of the positive class `1`; 0 when there are no true positives.
pub fn f1(predicted: &[usize], gold: &[usize]) -> f64 {
    let (mut tp, mut fp, mut fneg) = (0f64, 0f64, 0f64);
    for (&p, &g) in predicted.iter().zip(gold) {
        match (p == 1, g == 1) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fneg += 1.0,
            (false, false) => {}
        }
    }
    if tp == 0.0 {
        return 0.0;
    }
    2.0 * tp / (2.0 * tp + fp + fneg)
}

/// Matthews correlation for any number of classes (Gorodkin's R_K; for two classes the usual MCC).
/// 0 when the denominator is 0 (e.g. a constant prediction), as sklearn and GLUE define it.
pub fn matthews(predicted: &[usize], gold: &[usize]) -> f64 {
    let k = predicted
        .iter()
        .chain(gold)
        .copied()
        .max()
        .map_or(0, |m| m + 1);
    let mut confusion = vec![vec![0f64; k]; k];
    for (&p, &g) in predicted.iter().zip(gold) {
        confusion[g][p] += 1.0;
    }
    let s: f64 = gold.len() as f64;
    let c: f64 = (0..k).map(|i| confusion[i][i]).sum();
    let t: Vec<f64> = (0..k).map(|i| confusion[i].iter().sum()).collect();
    let p: Vec<f64> = (0..k)
        .map(|j| (0..k).map(|i| confusion[i][j]).sum())
        .collect();
    let pt: f64 = p.iter().zip(&t).map(|(a, b)| a * b).sum();
    let denominator = (s * s - p.iter().map(|x| x * x).sum::<f64>())
        * (s * s - t.iter().map(|x| x * x).sum::<f64>());
    if denominator <= 0.0 {
        return 0.0;
    }
    (c * s - pt) / denominator.sqrt()
}

/// Pearson's r; 0 when either side is constant.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.is_empty() {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks 1..n with ties sharing their average rank.
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &idx in &order[i..=j] {
            ranks[idx] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's ρ: Pearson on average ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Predictions of a model on a labelled split, in the form its metrics need.
#[derive(Debug, Clone)]
pub enum Predictions {
    Classes {
        predicted: Vec<usize>,
        gold: Vec<usize>,
    },
    Values {
        predicted: Vec<f64>,
        gold: Vec<f64>,
    },
}

/// The metrics GLUE reports for a task, by name (`accuracy`, `f1`, `mcc`, `pearson`, `spearman`), plus `score`,
/// the task's number in the GLUE average.
pub fn task_metrics(task: Task, predictions: &Predictions) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    match predictions {
        Predictions::Classes { predicted, gold } => {
            let acc = accuracy(predicted, gold);
            m.insert("accuracy".into(), acc);
            let score = match task {
                Task::Cola | Task::Ax => {
                    let mcc = matthews(predicted, gold);
                    m.insert("mcc".into(), mcc);
                    mcc
                }
                Task::Mrpc | Task::Qqp => {
                    let f = f1(predicted, gold);
                    m.insert("f1".into(), f);
                    (acc + f) / 2.0
                }
                _ => acc,
            };
            m.insert("score".into(), score);
        }
        Predictions::Values { predicted, gold } => {
            let r = pearson(predicted, gold);
            let rho = spearman(predicted, gold);
            m.insert("pearson".into(), r);
            m.insert("spearman".into(), rho);
            m.insert("score".into(), (r + rho) / 2.0);
        }
    }
    m
}

/// The metric that selects the best checkpoint on dev (what the paper reports per task).
pub fn selection_metric(task: Task) -> &'static str {
    match task {
        Task::Cola | Task::Ax => "mcc",
        Task::Mrpc | Task::Qqp => "f1",
        Task::Stsb => "spearman",
        _ => "accuracy",
    }
}

/// GLUE score: the mean of the nine task scores (MNLI's m/mm already averaged into one). `None` unless all
/// nine are given.
pub fn glue_score(task_scores: &BTreeMap<Task, f64>) -> Option<f64> {
    let scores: Option<Vec<f64>> = Task::GLUE
        .iter()
        .map(|t| task_scores.get(t).copied())
        .collect();
    scores.map(|s| s.iter().sum::<f64>() / s.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn accuracy_and_f1_by_hand() {
        // tp = 2, fp = 1, fn = 1, tn = 1.
        let p = [1, 1, 1, 0, 0];
        let g = [1, 1, 0, 1, 0];
        close(accuracy(&p, &g), 3.0 / 5.0);
        close(f1(&p, &g), 4.0 / 6.0);
        close(f1(&[0, 0], &[1, 0]), 0.0);
    }

    #[test]
    fn matthews_by_hand_and_zero_denominator() {
        let p = [1, 1, 1, 0, 0];
        let g = [1, 1, 0, 1, 0];
        // (tp·tn − fp·fn) / √((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (2·1 − 1·1)/√(3·3·2·2) = 1/6.
        close(matthews(&p, &g), 1.0 / 6.0);
        close(matthews(&[1, 1, 1], &[1, 0, 1]), 0.0);
        close(matthews(&[0, 1], &[0, 1]), 1.0);
        close(matthews(&[1, 0], &[0, 1]), -1.0);
    }

    #[test]
    fn three_class_r3_by_hand() {
        // Confusion (rows gold, cols predicted): [[2,1,0],[0,1,1],[1,0,2]]; s = 8, c = 5,
        // t = (3,2,3), p = (3,2,3): (5·8 − 22)/√((64 − 22)(64 − 22)) = 18/42.
        let gold = [0, 0, 0, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 1, 1, 2, 0, 2, 2];
        close(matthews(&predicted, &gold), 18.0 / 42.0);
    }

    #[test]
    fn spearman_with_ties_uses_average_ranks() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 20.0, 5.0]),
            vec![2.0, 3.5, 3.5, 1.0]
        );
        // x ranks (1, 2.5, 2.5, 4), y ranks (1, 2, 3, 4): ρ = Pearson of the ranks = 4.5/√(4.5·5).
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        close(rho, 4.5 / (4.5f64 * 5.0).sqrt());
        close(spearman(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]), -1.0);
        close(pearson(&[1.0, 1.0], &[2.0, 3.0]), 0.0);
    }

    #[test]
    fn glue_score_of_the_elmo_row_is_70() {
        let scores: BTreeMap<Task, f64> = [
            (Task::Cola, 33.6),
            (Task::Sst2, 90.4),
            (Task::Mrpc, (78.0 + 84.4) / 2.0),
            (Task::Stsb, (74.2 + 72.3) / 2.0),
            (Task::Qqp, (84.3 + 63.1) / 2.0),
            (Task::Mnli, (74.1 + 74.5) / 2.0),
            (Task::Qnli, 79.8),
            (Task::Rte, 58.9),
            (Task::Wnli, 65.1),
        ]
        .into_iter()
        .collect();
        let score = glue_score(&scores).expect("nine tasks");
        assert!((score - 70.03).abs() < 0.01, "{score}");
        let mut eight = scores.clone();
        eight.remove(&Task::Wnli);
        assert_eq!(glue_score(&eight), None);
    }

    #[test]
    fn task_scores_combine_the_right_metrics() {
        let m = task_metrics(
            Task::Mrpc,
            &Predictions::Classes {
                predicted: vec![1, 1, 1, 0, 0],
                gold: vec![1, 1, 0, 1, 0],
            },
        );
        close(m["score"], (0.6 + 4.0 / 6.0) / 2.0);
        let s = task_metrics(
            Task::Stsb,
            &Predictions::Values {
                predicted: vec![1.0, 2.0, 3.0],
                gold: vec![1.0, 2.0, 4.0],
            },
        );
        close(s["spearman"], 1.0);
    }
}
