//! GLUE tasks and HANS: file layouts, label vocabularies and readers.
//!
//! Every reader checks every row; a malformed row is an error naming file and line unless the caller asks to
//! skip such rows, in which case each skipped row is counted and reported.
//!
//! Long: each GLUE task's and HANS's columns, label vocabulary and test-split layout are data stated once
//! here, beside the one reader that uses them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::tsv::{TsvFile, TsvRecord};

/// The tasks sesame reads. In files (run directories, grids) a task is its GLUE name, [`Task::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    Cola,
    Sst2,
    Mrpc,
    Stsb,
    Qqp,
    Mnli,
    Qnli,
    Rte,
    Wnli,
    /// The GLUE diagnostic set (test only, MNLI labels).
    Ax,
    /// McCoy et al.'s HANS (evaluation only).
    Hans,
}

/// Which file of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    /// `dev.tsv` (MNLI: `dev_matched.tsv`).
    Dev,
    /// MNLI's `dev_mismatched.tsv`.
    DevMismatched,
    /// `test.tsv` (MNLI: `test_matched.tsv`; AX: `AX.tsv`). Unlabelled.
    Test,
    /// MNLI's `test_mismatched.tsv`.
    TestMismatched,
}

/// A gold label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Label {
    Class(usize),
    Value(f32),
}

/// HANS annotations of an example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HansInfo {
    pub heuristic: String,
    pub subcase: Option<String>,
    pub template: Option<String>,
    pub pair_id: Option<String>,
}

/// One example of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Line in the source file (1-based), for messages.
    pub line: usize,
    pub text_a: String,
    pub text_b: Option<String>,
    /// `None` for unlabelled (test) files.
    pub label: Option<Label>,
    pub hans: Option<HansInfo>,
}

/// What to do with a malformed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MalformedRows {
    /// Stop with an error naming file and line (the default).
    #[default]
    Error,
    /// Skip the row and count it in [`Dataset::skipped`].
    Skip,
}

/// The examples of one file, plus the rows that were skipped and why.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub task: Task,
    pub split: Split,
    pub path: PathBuf,
    pub examples: Vec<Example>,
    /// `(line, reason)` of every skipped row (only with [`MalformedRows::Skip`]).
    pub skipped: Vec<(usize, String)>,
}

impl Serialize for Task {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Task, D::Error> {
        let name = String::deserialize(deserializer)?;
        Task::EVERY
            .into_iter()
            .find(|task| task.name() == name)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown task `{name}`, expected one of {}",
                    Task::names()
                ))
            })
    }
}

impl Task {
    /// Every task: GLUE's nine, its diagnostic set and HANS.
    pub const EVERY: [Task; 11] = [
        Task::Cola,
        Task::Sst2,
        Task::Mrpc,
        Task::Stsb,
        Task::Qqp,
        Task::Mnli,
        Task::Qnli,
        Task::Rte,
        Task::Wnli,
        Task::Ax,
        Task::Hans,
    ];

    /// The names of [`Task::EVERY`], comma-separated (for messages).
    pub fn names() -> String {
        Task::EVERY.map(Task::name).join(", ")
    }

    /// GLUE's nine tasks (the first nine of [`Task::EVERY`]).
    pub const GLUE: &'static [Task] = Task::EVERY.split_at(9).0;

    /// The task's GLUE name (and folder name): `CoLA`, `SST-2`, ….
    pub fn name(self) -> &'static str {
        match self {
            Task::Cola => "CoLA",
            Task::Sst2 => "SST-2",
            Task::Mrpc => "MRPC",
            Task::Stsb => "STS-B",
            Task::Qqp => "QQP",
            Task::Mnli => "MNLI",
            Task::Qnli => "QNLI",
            Task::Rte => "RTE",
            Task::Wnli => "WNLI",
            Task::Ax => "AX",
            Task::Hans => "HANS",
        }
    }

    /// Parses a task name case-insensitively (`rte`, `sst2`, `sts-b`, …).
    pub fn parse(name: &str) -> Option<Task> {
        let key: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        Task::EVERY.into_iter().find(|t| {
            t.name()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
                == key
        })
    }

    /// Label strings in class-index order; empty for regression.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Task::Cola | Task::Sst2 | Task::Mrpc | Task::Qqp | Task::Wnli => &["0", "1"],
            Task::Stsb => &[],
            Task::Mnli | Task::Ax => &["entailment", "neutral", "contradiction"],
            Task::Qnli | Task::Rte => &["entailment", "not_entailment"],
            Task::Hans => &["entailment", "non-entailment"],
        }
    }

    /// Output units of a model for this task (1 = regression).
    pub fn num_labels(self) -> usize {
        self.labels().len().max(1)
    }

    pub fn is_regression(self) -> bool {
        self == Task::Stsb
    }

    /// The file name of a split inside the task folder.
    pub fn file_name(self, split: Split) -> Result<&'static str, String> {
        let name = match (self, split) {
            (Task::Mnli, Split::Train) => "train.tsv",
            (Task::Mnli, Split::Dev) => "dev_matched.tsv",
            (Task::Mnli, Split::DevMismatched) => "dev_mismatched.tsv",
            (Task::Mnli, Split::Test) => "test_matched.tsv",
            (Task::Mnli, Split::TestMismatched) => "test_mismatched.tsv",
            (Task::Ax, Split::Test) => "AX.tsv",
            (Task::Ax, _) => return Err("AX has only a test split".into()),
            (Task::Hans, Split::Dev | Split::Test) => "heuristics_evaluation_set.txt",
            (Task::Hans, Split::Train) => "heuristics_train_set.txt",
            (_, Split::DevMismatched | Split::TestMismatched) => {
                return Err(format!("{} has no mismatched split", self.name()))
            }
            (_, Split::Train) => "train.tsv",
            (_, Split::Dev) => "dev.tsv",
            (_, Split::Test) => "test.tsv",
        };
        Ok(name)
    }

    /// Reads one split from a GLUE folder laid out as `data_dir/<TASK>/<file>`.
    pub fn load(
        self,
        data_dir: &Path,
        split: Split,
        policy: MalformedRows,
    ) -> Result<Dataset, DataError> {
        let file = self.file_name(split).map_err(|message| DataError::BadRow {
            path: data_dir.to_path_buf(),
            line: 0,
            message,
        })?;
        let mut path = data_dir.join(self.name()).join(file);
        if self == Task::Hans && !path.exists() {
            // The derived copy shipped in shared/data/hans.
            let derived = path.with_extension("derived.tsv");
            if derived.exists() {
                path = derived;
            }
        }
        self.load_file(&path, split, policy)
    }

    /// Reads a task file from an explicit path.
    pub fn load_file(
        self,
        path: &Path,
        split: Split,
        policy: MalformedRows,
    ) -> Result<Dataset, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.parse_file(path, &bytes, split, policy)
    }

    /// Parses the bytes of a task file; `path` is used in messages.
    pub fn parse_file(
        self,
        path: &Path,
        bytes: &[u8],
        split: Split,
        policy: MalformedRows,
    ) -> Result<Dataset, DataError> {
        let headerless = self == Task::Cola && split != Split::Test;
        let (file, mut skipped) = match (headerless, policy) {
            (true, MalformedRows::Error) => {
                (TsvFile::parse_headerless(path, bytes, 4)?, Vec::new())
            }
            (true, MalformedRows::Skip) => TsvFile::parse_headerless_skipping(path, bytes, 4)?,
            (false, MalformedRows::Error) => (TsvFile::parse(path, bytes)?, Vec::new()),
            (false, MalformedRows::Skip) => TsvFile::parse_skipping(path, bytes)?,
        };
        let layout = Layout::find(self, split, &file)?;
        let mut examples = Vec::with_capacity(file.records.len());
        for record in &file.records {
            match layout.example(self, record) {
                Ok(example) => examples.push(example),
                Err(message) => match policy {
                    MalformedRows::Error => {
                        return Err(DataError::BadRow {
                            path: path.to_path_buf(),
                            line: record.line,
                            message,
                        })
                    }
                    MalformedRows::Skip => skipped.push((record.line, message)),
                },
            }
        }
        skipped.sort_by_key(|(line, _)| *line);
        Ok(Dataset {
            task: self,
            split,
            path: path.to_path_buf(),
            examples,
            skipped,
        })
    }
}

/// Column positions of one file.
struct Layout {
    text_a: usize,
    text_b: Option<usize>,
    label: Option<usize>,
    heuristic: Option<usize>,
    subcase: Option<usize>,
    template: Option<usize>,
    pair_id: Option<usize>,
}

impl Layout {
    fn find(task: Task, split: Split, file: &TsvFile) -> Result<Layout, DataError> {
        let col = |name: &str| file.header.iter().position(|h| h == name);
        let need = |name: &str| {
            col(name).ok_or_else(|| DataError::BadRow {
                path: file.path.clone(),
                line: 1,
                message: format!(
                    "{} file has no `{name}` column (header: {})",
                    task.name(),
                    file.header.join(", ")
                ),
            })
        };
        let labelled = !matches!(split, Split::Test | Split::TestMismatched) || task == Task::Hans;
        let (a, b, label): (&str, Option<&str>, &str) = match task {
            Task::Cola if split != Split::Test => {
                return Ok(Layout::plain(3, None, Some(1)));
            }
            Task::Cola | Task::Sst2 => ("sentence", None, "label"),
            Task::Mrpc => ("#1 String", Some("#2 String"), "Quality"),
            Task::Stsb => ("sentence1", Some("sentence2"), "score"),
            Task::Qqp => ("question1", Some("question2"), "is_duplicate"),
            Task::Mnli => ("sentence1", Some("sentence2"), "gold_label"),
            Task::Qnli => ("question", Some("sentence"), "label"),
            Task::Rte | Task::Wnli | Task::Ax => ("sentence1", Some("sentence2"), "label"),
            Task::Hans => ("sentence1", Some("sentence2"), "gold_label"),
        };
        let mut layout = Layout::plain(need(a)?, b.map(need).transpose()?, None);
        if labelled && task != Task::Ax {
            layout.label = Some(need(label)?);
        }
        if task == Task::Hans {
            layout.heuristic = Some(need("heuristic")?);
            layout.subcase = col("subcase");
            layout.template = col("template");
            layout.pair_id = col("pairID");
        }
        Ok(layout)
    }

    fn plain(text_a: usize, text_b: Option<usize>, label: Option<usize>) -> Layout {
        Layout {
            text_a,
            text_b,
            label,
            heuristic: None,
            subcase: None,
            template: None,
            pair_id: None,
        }
    }

    fn example(&self, task: Task, record: &TsvRecord) -> Result<Example, String> {
        let field = |i: usize| record.fields[i].clone();
        let label = match self.label {
            None => None,
            Some(i) => Some(parse_label(task, record.fields[i].trim())?),
        };
        Ok(Example {
            line: record.line,
            text_a: field(self.text_a),
            text_b: self.text_b.map(field),
            label,
            hans: self.heuristic.map(|h| HansInfo {
                heuristic: field(h),
                subcase: self.subcase.map(field),
                template: self.template.map(field),
                pair_id: self.pair_id.map(field),
            }),
        })
    }
}

fn parse_label(task: Task, raw: &str) -> Result<Label, String> {
    if task.is_regression() {
        return match raw.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(Label::Value(v)),
            _ => Err(format!("score `{raw}` is not a number")),
        };
    }
    task.labels()
        .iter()
        .position(|l| *l == raw)
        .map(Label::Class)
        .ok_or_else(|| format!("label `{raw}` is not one of {}", task.labels().join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_parse_loosely() {
        assert_eq!(Task::parse("rte"), Some(Task::Rte));
        assert_eq!(Task::parse("SST2"), Some(Task::Sst2));
        assert_eq!(Task::parse("sts-b"), Some(Task::Stsb));
        assert_eq!(Task::parse("mnli"), Some(Task::Mnli));
        assert_eq!(Task::parse("nope"), None);
    }

    #[test]
    fn files_hold_a_task_as_its_glue_name() {
        for task in Task::EVERY {
            let json = serde_json::to_string(&task).expect("serialises");
            assert_eq!(json, format!("\"{}\"", task.name()));
            assert_eq!(
                serde_json::from_str::<Task>(&json).expect("reads back"),
                task
            );
        }
        assert_eq!(
            serde_json::to_string(&Task::Sst2).expect("json"),
            "\"SST-2\""
        );
        let err = serde_json::from_str::<Task>("\"rte\"").expect_err("only the exact name");
        assert!(err.to_string().contains("unknown task `rte`"), "{err}");
    }

    #[test]
    fn labels_map_to_classes_and_unknown_labels_are_errors() {
        assert_eq!(
            parse_label(Task::Rte, "not_entailment"),
            Ok(Label::Class(1))
        );
        assert_eq!(parse_label(Task::Stsb, "3.800"), Ok(Label::Value(3.8)));
        assert!(parse_label(Task::Rte, "maybe").is_err());
        assert!(parse_label(Task::Stsb, "nan").is_err());
    }
}
