//! The GLUE test-server submission (methods.md §6.3): eleven `index<TAB>prediction` files in one zip, checked
//! locally (names, headers, row counts, indices, label vocabulary) because server submissions are rationed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::TrainError;
use crate::tasks::Task;

/// One file of the submission: its name, the task whose labels it uses, and its expected row count.
#[derive(Debug, Clone, Copy)]
pub struct SubmissionFile {
    pub name: &'static str,
    pub task: Task,
    pub rows: usize,
}

/// The eleven files. CoLA's test set has 1063 rows (the shared CoLA/test.tsv; methods.md's table says 1064).
pub const FILES: [SubmissionFile; 11] = [
    SubmissionFile {
        name: "CoLA.tsv",
        task: Task::Cola,
        rows: 1063,
    },
    SubmissionFile {
        name: "SST-2.tsv",
        task: Task::Sst2,
        rows: 1821,
    },
    SubmissionFile {
        name: "MRPC.tsv",
        task: Task::Mrpc,
        rows: 1725,
    },
    SubmissionFile {
        name: "STS-B.tsv",
        task: Task::Stsb,
        rows: 1379,
    },
    SubmissionFile {
        name: "QQP.tsv",
        task: Task::Qqp,
        rows: 390965,
    },
    SubmissionFile {
        name: "MNLI-m.tsv",
        task: Task::Mnli,
        rows: 9796,
    },
    SubmissionFile {
        name: "MNLI-mm.tsv",
        task: Task::Mnli,
        rows: 9847,
    },
    SubmissionFile {
        name: "QNLI.tsv",
        task: Task::Qnli,
        rows: 5463,
    },
    SubmissionFile {
        name: "RTE.tsv",
        task: Task::Rte,
        rows: 3000,
    },
    SubmissionFile {
        name: "WNLI.tsv",
        task: Task::Wnli,
        rows: 146,
    },
    SubmissionFile {
        name: "AX.tsv",
        task: Task::Ax,
        rows: 1104,
    },
];

/// Checks one prediction file's text; the error names the line.
pub fn validate(file: &SubmissionFile, text: &str, path: &Path) -> Result<(), TrainError> {
    let bad =
        |line: usize, message: String| TrainError::run(path, format!("line {line}: {message}"));
    let mut lines = text.lines();
    if lines.next() != Some("index\tprediction") {
        return Err(bad(1, "the header must be `index<TAB>prediction`".into()));
    }
    let mut count = 0;
    for (i, line) in lines.enumerate() {
        let line_no = i + 2;
        let (index, prediction) = line
            .split_once('\t')
            .ok_or_else(|| bad(line_no, "expected `index<TAB>prediction`".into()))?;
        if index.parse::<usize>().ok() != Some(i) {
            return Err(bad(line_no, format!("index `{index}`, expected {i}")));
        }
        let ok = if file.task.is_regression() {
            prediction
                .parse::<f64>()
                .is_ok_and(|v| (0.0..=5.0).contains(&v))
        } else {
            file.task.labels().contains(&prediction)
        };
        if !ok {
            let allowed = if file.task.is_regression() {
                "a number in [0, 5]".to_string()
            } else {
                file.task.labels().join(", ")
            };
            return Err(bad(
                line_no,
                format!("prediction `{prediction}` is not {allowed}"),
            ));
        }
        count += 1;
    }
    if count != file.rows {
        return Err(TrainError::run(
            path,
            format!(
                "{} has {count} predictions, the GLUE test set has {}",
                file.name, file.rows
            ),
        ));
    }
    Ok(())
}

/// A placeholder file (the first label, or 2.5 for STS-B) for a task without predictions.
pub fn placeholder(file: &SubmissionFile) -> String {
    let value = if file.task.is_regression() {
        "2.500"
    } else {
        file.task.labels()[0]
    };
    let mut out = String::from("index\tprediction\n");
    for i in 0..file.rows {
        out.push_str(&format!("{i}\t{value}\n"));
    }
    out
}

/// What went into a submission zip.
#[derive(Debug, Clone)]
pub struct SubmissionSummary {
    pub zip: PathBuf,
    pub predicted: Vec<&'static str>,
    pub placeholders: Vec<&'static str>,
}

/// Validates `dir/<name>` for every file (missing ones become placeholders unless `strict`) and writes the zip.
pub fn write_submission(
    dir: &Path,
    zip_path: &Path,
    strict: bool,
) -> Result<SubmissionSummary, TrainError> {
    let mut contents = Vec::new();
    let (mut predicted, mut placeholders) = (Vec::new(), Vec::new());
    for file in &FILES {
        let path = dir.join(file.name);
        let text = if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| TrainError::run(&path, e.to_string()))?;
            validate(file, &text, &path)?;
            predicted.push(file.name);
            text
        } else if strict {
            return Err(TrainError::run(
                &path,
                "missing (no placeholders in strict mode)",
            ));
        } else {
            placeholders.push(file.name);
            placeholder(file)
        };
        contents.push((file.name, text));
    }
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, text) in &contents {
            zip.start_file(*name, options)
                .and_then(|_| zip.write_all(text.as_bytes()).map_err(Into::into))
                .map_err(|e| TrainError::run(zip_path, e.to_string()))?;
        }
        zip.finish()
            .map_err(|e| TrainError::run(zip_path, e.to_string()))?;
    }
    crate::fsio::write_atomic(zip_path, buffer.get_ref())?;
    Ok(SubmissionSummary {
        zip: zip_path.to_path_buf(),
        predicted,
        placeholders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_checks_header_indices_labels_and_counts() {
        let wnli = FILES[9];
        let path = Path::new("WNLI.tsv");
        let good = placeholder(&wnli);
        assert!(validate(&wnli, &good, path).is_ok());
        let err = validate(
            &wnli,
            &good.replacen("index\tprediction", "id\tlabel", 1),
            path,
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = validate(&wnli, &good.replacen("\n3\t0\n", "\n3\tmaybe\n", 1), path).unwrap_err();
        assert!(
            err.to_string().contains("line 5: prediction `maybe`"),
            "{err}"
        );
        let err = validate(&wnli, &good.replacen("\n3\t0\n", "\n4\t0\n", 1), path).unwrap_err();
        assert!(err.to_string().contains("index `4`, expected 3"), "{err}");
        let short: String = good.lines().take(100).map(|l| format!("{l}\n")).collect();
        let err = validate(&wnli, &short, path).unwrap_err();
        assert!(err.to_string().contains("99 predictions"), "{err}");
        let stsb = FILES[3];
        let err =
            validate(&stsb, "index\tprediction\n0\t5.5\n", Path::new("STS-B.tsv")).unwrap_err();
        assert!(err.to_string().contains("[0, 5]"), "{err}");
    }

    #[test]
    fn zip_holds_all_eleven_files() {
        let dir = std::env::temp_dir().join(format!("sesame-submission-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("RTE.tsv"),
            placeholder(&FILES[8]).replace("entailment\n", "not_entailment\n"),
        )
        .expect("write");
        let zip_path = dir.join("glue.zip");
        let summary = write_submission(&dir, &zip_path, false).expect("zip");
        assert_eq!(summary.predicted, vec!["RTE.tsv"]);
        assert_eq!(summary.placeholders.len(), 10);
        let archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).expect("open"))
            .expect("zip parses");
        let mut names: Vec<&str> = archive.file_names().collect();
        names.sort();
        assert_eq!(names.len(), 11);
        assert!(names.contains(&"MNLI-mm.tsv") && names.contains(&"AX.tsv"));
        assert!(
            write_submission(&dir, &zip_path, true).is_err(),
            "strict mode refuses placeholders"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
