//! Tab-separated files as GLUE ships them: a header line, one record per line, no quoting.

use std::path::{Path, PathBuf};

use crate::error::DataError;

/// One data line and where it came from (1-based line number, header = line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsvRecord {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A data row set aside by a skipping parse: its 1-based line and why.
pub type SkippedRow = (usize, String);

/// A whole TSV file, every record checked to have as many columns as the header.
#[derive(Debug, Clone)]
pub struct TsvFile {
    pub path: PathBuf,
    pub header: Vec<String>,
    pub records: Vec<TsvRecord>,
}

impl TsvFile {
    /// Reads `path`. A final newline is optional; `\r\n` line ends are accepted. Quotes are data, as in GLUE.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &bytes)
    }

    /// Reads a file without a header line (GLUE's CoLA train/dev) whose rows have `columns` columns; the header
    /// is named `0`, `1`, ….
    pub fn read_headerless(path: impl AsRef<Path>, columns: usize) -> Result<Self, DataError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_headerless(path, &bytes, columns)
    }

    /// Parses the bytes of a file without a header line (see [`TsvFile::read_headerless`]).
    pub fn parse_headerless(path: &Path, bytes: &[u8], columns: usize) -> Result<Self, DataError> {
        Self::parse_headerless_with(path, bytes, columns, false).map(|(file, _)| file)
    }

    /// [`TsvFile::parse_headerless`] with malformed rows set aside as [`TsvFile::parse_skipping`] does.
    pub fn parse_headerless_skipping(
        path: &Path,
        bytes: &[u8],
        columns: usize,
    ) -> Result<(Self, Vec<SkippedRow>), DataError> {
        Self::parse_headerless_with(path, bytes, columns, true)
    }

    fn parse_headerless_with(
        path: &Path,
        bytes: &[u8],
        columns: usize,
        skip: bool,
    ) -> Result<(Self, Vec<SkippedRow>), DataError> {
        let header: Vec<u8> = (0..columns)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\t")
            .into_bytes();
        let mut with_header = header;
        with_header.push(b'\n');
        with_header.extend_from_slice(bytes);
        let shift = |e: DataError| match e {
            DataError::ColumnCount {
                path,
                line,
                expected,
                found,
            } => DataError::ColumnCount {
                path,
                line: line - 1,
                expected,
                found,
            },
            DataError::NotUtf8 { path, line, source } => DataError::NotUtf8 {
                path,
                line: line - 1,
                source,
            },
            other => other,
        };
        let (mut file, mut skipped) = Self::parse_with(path, &with_header, skip).map_err(shift)?;
        for record in &mut file.records {
            record.line -= 1;
        }
        for row in &mut skipped {
            row.0 -= 1;
        }
        Ok((file, skipped))
    }

    /// Parses the bytes of a TSV file; `path` is used in messages. A UTF-8 byte-order mark is ignored.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, DataError> {
        Self::parse_with(path, bytes, false).map(|(file, _)| file)
    }

    /// Like [`TsvFile::parse`], but a data row with the wrong number of columns or invalid UTF-8 is set aside
    /// with its line and reason instead of ending the parse (`--skip-malformed`). The header must still be
    /// readable.
    pub fn parse_skipping(path: &Path, bytes: &[u8]) -> Result<(Self, Vec<SkippedRow>), DataError> {
        Self::parse_with(path, bytes, true)
    }

    fn parse_with(
        path: &Path,
        bytes: &[u8],
        skip: bool,
    ) -> Result<(Self, Vec<SkippedRow>), DataError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut lines = bytes.split(|&b| b == b'\n').collect::<Vec<_>>();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let mut decoded = lines.into_iter().enumerate().map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            std::str::from_utf8(raw)
                .map(|s| (i + 1, s))
                .map_err(|source| DataError::NotUtf8 {
                    path: path.to_path_buf(),
                    line: i + 1,
                    source,
                })
        });
        let (_, header) = decoded
            .next()
            .transpose()?
            .ok_or_else(|| DataError::NoHeader {
                path: path.to_path_buf(),
            })?;
        let header: Vec<String> = header.split('\t').map(str::to_owned).collect();
        let mut records = Vec::new();
        let mut skipped = Vec::new();
        for item in decoded {
            let fault = match item {
                Ok((line, text)) => {
                    let fields: Vec<String> = text.split('\t').map(str::to_owned).collect();
                    if fields.len() == header.len() {
                        records.push(TsvRecord { line, fields });
                        continue;
                    }
                    DataError::ColumnCount {
                        path: path.to_path_buf(),
                        line,
                        expected: header.len(),
                        found: fields.len(),
                    }
                }
                Err(e) => e,
            };
            match (&fault, skip) {
                (
                    DataError::ColumnCount {
                        line,
                        expected,
                        found,
                        ..
                    },
                    true,
                ) => skipped.push((
                    *line,
                    format!("expected {expected} tab-separated columns, found {found}"),
                )),
                (DataError::NotUtf8 { line, source, .. }, true) => {
                    skipped.push((*line, format!("not valid UTF-8 ({source})")))
                }
                _ => return Err(fault),
            }
        }
        let file = TsvFile {
            path: path.to_path_buf(),
            header,
            records,
        };
        Ok((file, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Result<TsvFile, DataError> {
        TsvFile::parse(Path::new("t.tsv"), text)
    }

    #[test]
    fn reads_header_and_records_with_line_numbers() {
        let f = parse(b"a\tb\r\nx \"q\"\ty\n\tz").expect("valid");
        assert_eq!(f.header, vec!["a", "b"]);
        assert_eq!(f.records.len(), 2);
        assert_eq!(f.records[0].fields, vec!["x \"q\"", "y"]);
        assert_eq!(f.records[1].line, 3);
        assert_eq!(f.records[1].fields, vec!["", "z"]);
    }

    #[test]
    fn wrong_column_count_names_file_and_line() {
        let err = parse(b"a\tb\nx\ty\nonly-one\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.tsv:3: expected 2 tab-separated columns, found 1"
        );
    }

    #[test]
    fn empty_file_has_no_header() {
        assert!(matches!(parse(b""), Err(DataError::NoHeader { .. })));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let err = parse(b"a\nok\n\xff\xfe\n").unwrap_err();
        assert!(matches!(err, DataError::NotUtf8 { line: 3, .. }), "{err}");
    }
}
