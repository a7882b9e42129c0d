//! One file per concept, functions a reader can hold in view: no Rust source file of the repository over
//! [`FILE_LINES`] lines and no function over [`FN_LINES`] lines, unless it says why at its top. A file gives its
//! reason in its leading `//!` comment, a function in the comments directly above it (among its attributes),
//! each in a line that starts with [`REASON`]. The test lists every unexplained one with its place and length.

use std::path::{Path, PathBuf};

/// Lines of a source file, tests and comments included.
const FILE_LINES: usize = 400;
/// Lines of a function, from its `fn` line to its closing brace.
const FN_LINES: usize = 80;
/// How a comment line that explains a length starts (after `//!`, `///` or `//`).
const REASON: &str = "Long:";

/// Folders never searched: build output, version control, the fuzzers' build and findings.
const SKIPPED: [&str; 4] = ["target", ".git", "artifacts", "corpus"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !SKIPPED.iter().any(|s| name == *s) {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a comment line gives the reason for a length.
fn is_reason(line: &str) -> bool {
    let text = line.trim_start();
    ["//!", "///", "//"]
        .iter()
        .find_map(|marker| text.strip_prefix(marker))
        .is_some_and(|rest| rest.trim_start().starts_with(REASON))
}

/// The name of the function a line starts (`fn name`, after visibility and qualifiers), if it starts one.
fn function_name(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "fn" => {
                let next = words.next()?;
                let end = next
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(next.len());
                return Some(&next[..end]);
            }
            "pub" | "const" | "async" | "unsafe" | "extern" | "\"C\"" | "default" => {}
            w if w.starts_with("pub(") => {}
            _ => return None,
        }
    }
    None
}

/// Functions of `lines` longer than [`FN_LINES`] without a reason above them: `(first line, length, name)`.
/// A function ends at the first later line that is its closing brace at its own indentation.
fn long_functions(lines: &[&str]) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = function_name(line) else {
            continue;
        };
        let indent = &line[..line.len() - line.trim_start().len()];
        let close = format!("{indent}}}");
        // A declaration without a body (a trait's required method) ends with `;` before any `{`.
        let Some(open) = (start..lines.len()).find(|&i| {
            let l = lines[i].trim_end();
            l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
        }) else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let Some(end) = (open..lines.len()).find(|&i| {
            lines[i].trim_end() == close || (i == open && lines[i].trim_end().ends_with('}'))
        }) else {
            continue;
        };
        let length = end - start + 1;
        if length <= FN_LINES {
            continue;
        }
        let above = lines[..start]
            .iter()
            .rev()
            .take_while(|l| {
                let t = l.trim_start();
                t.starts_with("//") || t.starts_with("#[")
            })
            .any(|l| is_reason(l));
        if !above {
            found.push((start + 1, length, name.to_string()));
        }
    }
    found
}

#[test]
fn no_file_or_function_is_long_without_a_reason() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "crates", "tests", "benches", "fuzz"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 100,
        "found only {} Rust files under {}",
        files.len(),
        root.display()
    );
    let mut unexplained = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("source file");
        let lines: Vec<&str> = text.lines().collect();
        let shown = file.strip_prefix(root).unwrap_or(file).display();
        let file_reason = lines
            .iter()
            .take_while(|l| l.trim_start().starts_with("//!") || l.trim().is_empty())
            .any(|l| is_reason(l));
        if lines.len() > FILE_LINES && !file_reason {
            unexplained.push(format!("{shown}: {} lines", lines.len()));
        }
        for (line, length, name) in long_functions(&lines) {
            unexplained.push(format!("{shown}:{line}: fn {name}, {length} lines"));
        }
    }
    assert!(
        unexplained.is_empty(),
        "over {FILE_LINES} lines a file, over {FN_LINES} lines a function, without a `{REASON}` comment at \
         its top saying why:\n  {}",
        unexplained.join("\n  ")
    );
}

#[test]
fn the_checker_measures_functions_and_reads_reasons() {
    let body = vec!["    x += 1;"; FN_LINES];
    let mut long = vec!["/// Adds.", "pub(crate) fn add(x: &mut u32) {"];
    long.extend(&body);
    long.push("}");
    let found = long_functions(&long);
    assert_eq!(found, vec![(2, FN_LINES + 2, "add".to_string())]);

    let mut explained = vec!["/// Adds.", "// Long: one unrolled loop.", "#[inline]"];
    explained.extend(&long[1..]);
    assert!(long_functions(&explained).is_empty());

    let mut short = vec!["fn add(x: &mut u32) {"];
    short.extend(&body[..FN_LINES - 2]);
    short.push("}");
    assert!(
        long_functions(&short).is_empty(),
        "exactly {FN_LINES} lines"
    );
    assert_eq!(function_name("    pub async fn go<T>(t: T) {"), Some("go"));
    assert_eq!(function_name("let f = fn_pointer;"), None);
    assert_eq!(
        function_name("    fn required(&self) -> u8;"),
        Some("required")
    );
}
