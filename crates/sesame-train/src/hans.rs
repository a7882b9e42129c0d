//! HANS evaluation (methods.md §5): a model's predictions mapped to entailment / non-entailment and broken
//! down by heuristic × gold label (the SesameBERT Fig. 3 view) and by subcase.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tasks::{Example, Label, Task};

/// HANS class index of entailment (`Task::Hans.labels()[0]`).
pub const ENTAILMENT: usize = 0;
/// HANS class index of non-entailment.
pub const NON_ENTAILMENT: usize = 1;

/// Maps a class predicted by a model trained on `trained_on` to HANS's two classes. MNLI's neutral and
/// contradiction both become non-entailment (the official protocol: argmax first, then collapse); 2-class
/// entailment tasks (RTE, QNLI) map directly. `None` for tasks whose labels mean something else.
pub fn to_hans_class(trained_on: Task, class: usize) -> Option<usize> {
    match trained_on {
        Task::Mnli | Task::Ax | Task::Rte | Task::Qnli | Task::Hans => Some(if class == 0 {
            ENTAILMENT
        } else {
            NON_ENTAILMENT
        }),
        _ => None,
    }
}

/// Correct / total of one cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub correct: usize,
    pub total: usize,
}

impl Cell {
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    fn add(&mut self, right: bool) {
        self.total += 1;
        self.correct += usize::from(right);
    }
}

/// The HANS breakdown of one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HansReport {
    pub overall: Cell,
    /// `(heuristic, gold label)` → accuracy cell.
    pub by_heuristic: BTreeMap<String, BTreeMap<String, Cell>>,
    /// Subcase → cell, when the file has subcases.
    pub by_subcase: BTreeMap<String, Cell>,
}

impl HansReport {
    /// `examples` must carry HANS gold labels and annotations; `predicted[i]` is a HANS class.
    pub fn new(examples: &[Example], predicted: &[usize]) -> HansReport {
        let mut report = HansReport::default();
        let names = Task::Hans.labels();
        for (example, &p) in examples.iter().zip(predicted) {
            let (Some(Label::Class(gold)), Some(info)) = (example.label, example.hans.as_ref())
            else {
                continue;
            };
            let right = gold == p;
            report.overall.add(right);
            report
                .by_heuristic
                .entry(info.heuristic.clone())
                .or_default()
                .entry(names[gold].to_string())
                .or_default()
                .add(right);
            if let Some(subcase) = &info.subcase {
                report
                    .by_subcase
                    .entry(subcase.clone())
                    .or_default()
                    .add(right);
            }
        }
        report
    }

    /// Markdown table: heuristic × {entailment, non-entailment} accuracy, then subcases.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| heuristic | entailment | non-entailment |\n|---|---|---|\n");
        for (heuristic, cells) in &self.by_heuristic {
            let cell = |label: &str| {
                cells.get(label).map_or("–".to_string(), |c| {
                    format!("{:.1}% ({})", 100.0 * c.accuracy(), c.total)
                })
            };
            out.push_str(&format!(
                "| {heuristic} | {} | {} |\n",
                cell("entailment"),
                cell("non-entailment")
            ));
        }
        out.push_str(&format!(
            "\noverall: {:.1}% of {}\n",
            100.0 * self.overall.accuracy(),
            self.overall.total
        ));
        if !self.by_subcase.is_empty() {
            out.push_str("\n| subcase | accuracy |\n|---|---|\n");
            for (subcase, c) in &self.by_subcase {
                out.push_str(&format!(
                    "| {subcase} | {:.1}% ({}) |\n",
                    100.0 * c.accuracy(),
                    c.total
                ));
            }
        }
        out
    }
}

/// The official prediction file: `pairID,gold_label` then `ex<k>,<label>` per example.
pub fn prediction_file(examples: &[Example], predicted: &[usize]) -> String {
    let names = Task::Hans.labels();
    let mut out = String::from("pairID,gold_label\n");
    for (i, (example, &p)) in examples.iter().zip(predicted).enumerate() {
        let id = example
            .hans
            .as_ref()
            .and_then(|h| h.pair_id.clone())
            .unwrap_or_else(|| format!("ex{i}"));
        out.push_str(&format!("{id},{}\n", names[p]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::HansInfo;

    fn ex(gold: usize, heuristic: &str, subcase: &str) -> Example {
        Example {
            line: 2,
            text_a: "a".into(),
            text_b: Some("b".into()),
            label: Some(Label::Class(gold)),
            hans: Some(HansInfo {
                heuristic: heuristic.into(),
                subcase: Some(subcase.into()),
                template: None,
                pair_id: None,
            }),
        }
    }

    #[test]
    fn mnli_collapses_neutral_and_contradiction() {
        assert_eq!(to_hans_class(Task::Mnli, 0), Some(ENTAILMENT));
        assert_eq!(to_hans_class(Task::Mnli, 1), Some(NON_ENTAILMENT));
        assert_eq!(to_hans_class(Task::Mnli, 2), Some(NON_ENTAILMENT));
        assert_eq!(to_hans_class(Task::Rte, 1), Some(NON_ENTAILMENT));
        assert_eq!(to_hans_class(Task::Sst2, 1), None);
    }

    #[test]
    fn breakdown_counts_per_heuristic_label_and_subcase() {
        let examples = vec![
            ex(0, "lexical_overlap", "le_passive"),
            ex(1, "lexical_overlap", "ln_passive"),
            ex(1, "lexical_overlap", "ln_passive"),
            ex(0, "subsequence", "se_adjective"),
        ];
        let report = HansReport::new(&examples, &[0, 0, 1, 1]);
        assert_eq!(
            report.overall,
            Cell {
                correct: 2,
                total: 4
            }
        );
        let lo = &report.by_heuristic["lexical_overlap"];
        assert_eq!(
            lo["entailment"],
            Cell {
                correct: 1,
                total: 1
            }
        );
        assert_eq!(
            lo["non-entailment"],
            Cell {
                correct: 1,
                total: 2
            }
        );
        assert_eq!(
            report.by_subcase["se_adjective"],
            Cell {
                correct: 0,
                total: 1
            }
        );
        let file = prediction_file(&examples, &[0, 0, 1, 1]);
        assert!(
            file.starts_with("pairID,gold_label\nex0,entailment\nex1,entailment\n"),
            "{file}"
        );
        assert_eq!(file.lines().count(), 5);
    }
}
