//! Every task reader on the shared GLUE/HANS files (row counts from data/MANIFEST.md), and every reader's
//! error path: a malformed row names file and line, or is skipped and counted when asked.

use std::path::{Path, PathBuf};

use sesame_testkit::{shared_dir, temp_dir, TempDir};

use sesame_train::{DataError, Label, MalformedRows, Split, Task};

fn glue() -> PathBuf {
    shared_dir().join("data/glue")
}

#[test]
fn shared_glue_files_read_with_the_published_row_counts() {
    for (task, split, rows) in [
        (Task::Cola, Split::Train, 8551),
        (Task::Cola, Split::Dev, 1043),
        (Task::Cola, Split::Test, 1063),
        (Task::Sst2, Split::Train, 67349),
        (Task::Sst2, Split::Dev, 872),
        (Task::Sst2, Split::Test, 1821),
        (Task::Mrpc, Split::Train, 3668),
        (Task::Mrpc, Split::Dev, 408),
        (Task::Mrpc, Split::Test, 1725),
        (Task::Stsb, Split::Train, 5749),
        (Task::Stsb, Split::Dev, 1500),
        (Task::Stsb, Split::Test, 1379),
        (Task::Qnli, Split::Dev, 5463),
        (Task::Qnli, Split::Test, 5463),
        (Task::Rte, Split::Train, 2490),
        (Task::Rte, Split::Dev, 277),
        (Task::Rte, Split::Test, 3000),
        (Task::Wnli, Split::Train, 635),
        (Task::Wnli, Split::Dev, 71),
        (Task::Wnli, Split::Test, 146),
        (Task::Ax, Split::Test, 1104),
    ] {
        let data = task
            .load(&glue(), split, MalformedRows::Error)
            .unwrap_or_else(|e| panic!("{task:?} {split:?}: {e}"));
        assert_eq!(data.examples.len(), rows, "{task:?} {split:?}");
        assert!(data.skipped.is_empty());
        let labelled = data.examples.iter().filter(|e| e.label.is_some()).count();
        let expect_labels = !matches!(split, Split::Test);
        assert_eq!(
            labelled,
            if expect_labels { rows } else { 0 },
            "{task:?} {split:?} labels"
        );
    }
    let rte = Task::Rte
        .load(&glue(), Split::Dev, MalformedRows::Error)
        .expect("rte");
    assert_eq!(
        rte.examples[0].label,
        Some(Label::Class(1)),
        "row 0 is not_entailment"
    );
    assert!(rte.examples[0].text_a.starts_with("Dana Reeve"));
    let stsb = Task::Stsb
        .load(&glue(), Split::Dev, MalformedRows::Error)
        .expect("sts-b");
    assert_eq!(stsb.examples[0].label, Some(Label::Value(5.0)));
    let mrpc = Task::Mrpc
        .load(&glue(), Split::Dev, MalformedRows::Error)
        .expect("mrpc with a BOM header");
    assert!(mrpc.examples[0].text_b.is_some());
}

#[test]
fn hans_derived_files_read_with_heuristics() {
    let hans = shared_dir().join("data/hans");
    let eval = Task::Hans
        .load_file(
            &hans.join("heuristics_evaluation_set.derived.tsv"),
            Split::Test,
            MalformedRows::Error,
        )
        .expect("hans eval");
    assert_eq!(eval.examples.len(), 30000);
    let info = eval.examples[0].hans.as_ref().expect("annotations");
    assert_eq!(info.heuristic, "lexical_overlap");
    assert_eq!(eval.examples[0].label, Some(Label::Class(1)));
    let train = Task::Hans
        .load_file(
            &hans.join("heuristics_train_set.derived.tsv"),
            Split::Train,
            MalformedRows::Error,
        )
        .expect("hans train");
    assert!(train.examples[0]
        .hans
        .as_ref()
        .and_then(|h| h.subcase.clone())
        .is_some());
}

/// A data folder holding `content` as `file` of `task`.
fn temp_task_dir(task: Task, file: &str, content: &str) -> TempDir {
    let root = temp_dir(&format!("readers-{}", task.name()));
    let dir = root.path().join(task.name());
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join(file), content).expect("write");
    root
}

fn expect_bad_row(task: Task, split: Split, file: &str, content: &str, line: usize, needle: &str) {
    let root = temp_task_dir(task, file, content);
    let err = task
        .load(root.path(), split, MalformedRows::Error)
        .expect_err("malformed input must fail");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{file}:{line}")), "{task:?}: {msg}");
    assert!(msg.contains(needle), "{task:?}: {msg}");
    // A row of any malformation is skipped and counted.
    let data = task
        .load(root.path(), split, MalformedRows::Skip)
        .unwrap_or_else(|e| panic!("{task:?}: --skip-malformed must skip line {line}: {e}"));
    assert_eq!(
        data.skipped.len(),
        1,
        "{task:?}: exactly the bad row is skipped"
    );
    assert_eq!(data.skipped[0].0, line);
    assert!(
        data.skipped[0].1.contains(needle),
        "{task:?}: {:?}",
        data.skipped[0]
    );
}

// Long: a table of bad rows, one per reader and fault, each with the message it must give.
#[test]
fn every_reader_names_file_and_line_of_a_bad_row() {
    expect_bad_row(
        Task::Cola,
        Split::Train,
        "train.tsv",
        "src\t1\t\tGood.\nsrc\t7\t\tBad label.\n",
        2,
        "label `7`",
    );
    expect_bad_row(
        Task::Sst2,
        Split::Dev,
        "dev.tsv",
        "sentence\tlabel\nok\t1\nbad\tpositive\n",
        3,
        "label `positive`",
    );
    expect_bad_row(
        Task::Mrpc,
        Split::Dev,
        "dev.tsv",
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\nx\t1\t2\ta\tb\n",
        3,
        "label `x`",
    );
    expect_bad_row(
        Task::Stsb,
        Split::Dev,
        "dev.tsv",
        "index\tsentence1\tsentence2\tscore\n0\ta\tb\tfive\n",
        2,
        "score `five`",
    );
    expect_bad_row(
        Task::Qqp,
        Split::Dev,
        "dev.tsv",
        "id\tquestion1\tquestion2\tis_duplicate\n0\ta\tb\t2\n",
        2,
        "label `2`",
    );
    expect_bad_row(
        Task::Mnli,
        Split::Dev,
        "dev_matched.tsv",
        "index\tsentence1\tsentence2\tgold_label\n0\ta\tb\tentailment\n1\ta\tb\tmaybe\n",
        3,
        "label `maybe`",
    );
    expect_bad_row(
        Task::Qnli,
        Split::Dev,
        "dev.tsv",
        "index\tquestion\tsentence\tlabel\n0\tq\ts\tyes\n",
        2,
        "label `yes`",
    );
    expect_bad_row(
        Task::Rte,
        Split::Train,
        "train.tsv",
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tneutral\n",
        2,
        "label `neutral`",
    );
    expect_bad_row(
        Task::Wnli,
        Split::Dev,
        "dev.tsv",
        "index\tsentence1\tsentence2\tlabel\n0\ta\tb\n",
        2,
        "expected 4",
    );
    expect_bad_row(
        Task::Cola,
        Split::Dev,
        "dev.tsv",
        "src\t1\t\tGood.\nsrc\t0\n",
        2,
        "expected 4",
    );
    expect_bad_row(
        Task::Hans,
        Split::Test,
        "heuristics_evaluation_set.txt",
        "gold_label\tsentence1\tsentence2\theuristic\nentailment\ta\tb\tlexical_overlap\nneutral\ta\tb\tsubsequence\n",
        3,
        "label `neutral`",
    );
}

#[test]
fn skip_malformed_sets_aside_rows_that_are_not_utf8() {
    let root = temp_dir("readers-utf8");
    let dir = root.path().join("RTE");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut bytes = b"index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\t".to_vec();
    bytes.extend_from_slice(b"\xff\xfe\tb\tentailment\n2\tc\td\tnot_entailment\n");
    std::fs::write(dir.join("dev.tsv"), bytes).expect("write");
    let err = Task::Rte
        .load(root.path(), Split::Dev, MalformedRows::Error)
        .expect_err("invalid UTF-8");
    assert!(err.to_string().contains("dev.tsv:3"), "{err}");
    let data = Task::Rte
        .load(root.path(), Split::Dev, MalformedRows::Skip)
        .expect("skipped");
    assert_eq!(data.examples.len(), 2);
    assert_eq!(data.skipped.len(), 1);
    assert_eq!(data.skipped[0].0, 3);
    assert!(data.skipped[0].1.contains("UTF-8"), "{:?}", data.skipped);
}

#[test]
fn missing_columns_and_files_are_errors() {
    let root = temp_task_dir(
        Task::Rte,
        "dev.tsv",
        "index\tpremise\thypothesis\tlabel\n0\ta\tb\tentailment\n",
    );
    let err = Task::Rte
        .load(root.path(), Split::Dev, MalformedRows::Error)
        .expect_err("wrong header");
    assert!(err.to_string().contains("no `sentence1` column"), "{err}");
    let err = Task::Rte
        .load(
            Path::new("/nonexistent-glue"),
            Split::Dev,
            MalformedRows::Error,
        )
        .expect_err("missing");
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    let err = Task::Rte
        .load(root.path(), Split::DevMismatched, MalformedRows::Error)
        .expect_err("no such split");
    assert!(err.to_string().contains("mismatched"), "{err}");
}
