//! Imports go one way inside each crate: a module uses only modules of lower layers, as docs/architecture.md
//! ("Layers") lists them. The test reads that list, finds every `crate::…` path in each module's files
//! (comments aside; names re-exported at the crate root are traced to their module), and fails on any path to a
//! module of the same layer or above, or to a module the list does not place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `(crate folder, layers from the bottom)` from docs/architecture.md's lines
/// ``- `crates/sesame-core`: `error`, `kernels` < `ops` < …``.
fn declared_layers(root: &Path) -> Vec<(PathBuf, Vec<Vec<String>>)> {
    let doc =
        std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("docs/architecture.md has a section \"Layers\"");
    section
        .lines()
        .filter_map(|line| {
            let (name, layers) = line.strip_prefix("- `")?.split_once("`: ")?;
            let layers = layers
                .split(" < ")
                .map(|layer| {
                    layer
                        .split(", ")
                        .map(|m| m.trim().trim_matches('`').to_string())
                        .collect()
                })
                .collect();
            Some((root.join(name), layers))
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a `crate::` path's first segment names: a module, or a name the crate root re-exports from one
/// (`pub use bert::family::{Family, HeadKind};` makes `Family` bert's).
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        for name in rest.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() {
                names.entry(name.to_string()).or_insert(module.to_string());
            }
        }
    }
    names
}

/// The first segments of every `crate::` path in `code` (comment lines skipped): `crate::a::b` gives `a`,
/// `crate::{a::X, b}` gives `a` and `b`.
fn crate_paths(code: &str) -> Vec<String> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `sesame_crate::`, not `crate::`
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let first = item.trim().split("::").next().unwrap_or_default();
                if !first.is_empty() {
                    out.push(first.to_string());
                }
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push(rest[..end].to_string());
        }
    }
    out
}

#[test]
fn every_import_goes_down_the_declared_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crates = declared_layers(root);
    assert!(crates.len() >= 4, "the Layers section lists every crate");
    let mut wrong = Vec::new();
    for (dir, layers) in &crates {
        let layer_of: BTreeMap<&str, usize> = layers
            .iter()
            .enumerate()
            .flat_map(|(i, layer)| layer.iter().map(move |m| (m.as_str(), i)))
            .collect();
        let src = dir.join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
        let reexports = root_reexports(&lib);
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for file in files {
            let relative = file.strip_prefix(&src).expect("under src");
            let module = relative
                .iter()
                .next()
                .and_then(|m| m.to_str())
                .map(|m| m.trim_end_matches(".rs"))
                .unwrap_or_default();
            // The crate root, and a binary's own modules (`sesame-cli`'s `main.rs` and `cli/`), sit above it all.
            if matches!(module, "lib" | "main" | "cli") {
                continue;
            }
            let Some(&own) = layer_of.get(module) else {
                wrong.push(format!(
                    "{}: module `{module}` has no layer",
                    file.display()
                ));
                continue;
            };
            let code = std::fs::read_to_string(&file).expect("source file");
            for target in crate_paths(&code) {
                let target = reexports.get(&target).cloned().unwrap_or(target);
                if target == module {
                    continue;
                }
                match layer_of.get(target.as_str()) {
                    Some(&layer) if layer < own => {}
                    Some(_) => wrong.push(format!(
                        "{}: `{module}` imports `{target}`, which is not in a lower layer",
                        file.display()
                    )),
                    None => wrong.push(format!(
                        "{}: `{module}` imports `{target}`, which has no layer",
                        file.display()
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against docs/architecture.md's Layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_inline_paths_and_skips_comments() {
    let code = "use crate::{bert::X, io};\n// crate::methods in a comment\nlet y = crate::ops::sigmoid(x);\nuse sesame_crate::z;";
    assert_eq!(crate_paths(code), ["bert", "io", "ops"]);
    let names = root_reexports("pub use bert::family::{Family, HeadKind};\npub mod io;");
    assert_eq!(names.get("Family").map(String::as_str), Some("bert"));
}
