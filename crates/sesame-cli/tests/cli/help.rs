//! `--help` of every subcommand says what each flag does: a flag shown with only its default (or its
//! environment variable, or its possible values) is a defect.

use crate::common::sesame;

/// The subcommands of `sesame`, as `sesame --help` lists them.
fn subcommands() -> Vec<String> {
    let out = sesame(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let commands = text
        .split("Commands:")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap_or_default();
    commands
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The flags of a `--help` text with their descriptions: the text after the flag's spec on its line and on the
/// more indented lines below it, without clap's bracketed `[default: …]`, `[env: …]` and `[possible values: …]`.
fn flags_and_descriptions(help: &str) -> Vec<(String, String)> {
    let mut flags: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let text = line.trim_start();
        if text.starts_with("--")
            || (text.starts_with('-') && text[1..].starts_with(char::is_alphabetic))
        {
            let (spec, rest) = text.split_once("  ").unwrap_or((text, ""));
            let name = spec
                .split([',', ' '])
                .find(|part| part.starts_with("--"))
                .unwrap_or(spec)
                .to_string();
            flags.push((name, rest.trim().to_string()));
        } else if line.starts_with("  ") && !text.is_empty() {
            if let Some((_, description)) = flags.last_mut() {
                description.push(' ');
                description.push_str(text);
            }
        } else {
            // A blank line or a section title ends the flag before it.
            if let Some(last) = flags.last_mut() {
                last.1.push('\n');
            }
        }
    }
    flags
        .into_iter()
        .map(|(name, description)| {
            let mut words = description
                .split('\n')
                .next()
                .unwrap_or_default()
                .to_string();
            for bracket in ["[default:", "[env:", "[possible values:"] {
                while let Some(start) = words.find(bracket) {
                    let end = words[start..]
                        .find(']')
                        .map_or(words.len(), |e| start + e + 1);
                    words.replace_range(start..end, "");
                }
            }
            (name, words.trim().to_string())
        })
        .collect()
}

#[test]
fn every_flag_of_every_subcommand_has_a_description() {
    let subcommands = subcommands();
    assert!(subcommands.len() >= 8, "{subcommands:?}");
    let mut silent = Vec::new();
    for sub in &subcommands {
        let out = sesame(&[sub, "--help"]);
        assert!(out.status.success(), "sesame {sub} --help");
        let flags = flags_and_descriptions(&String::from_utf8_lossy(&out.stdout));
        assert!(
            flags.iter().any(|(name, _)| name == "--help"),
            "{sub}: {flags:?}"
        );
        for (name, description) in flags {
            if description.is_empty() {
                silent.push(format!("sesame {sub} {name}"));
            }
        }
    }
    assert!(silent.is_empty(), "flags without a description: {silent:?}");
}

#[test]
fn the_help_reader_sees_a_flag_with_only_its_default() {
    let help = "Options:\n      --epochs <EPOCHS>\n          [default: 3]\n      --seed <SEED>\n          Seed [default: 42]\n  -h, --help\n          Print help\n";
    let flags = flags_and_descriptions(help);
    assert_eq!(
        flags,
        [
            ("--epochs".to_string(), String::new()),
            ("--seed".to_string(), "Seed".to_string()),
            ("--help".to_string(), "Print help".to_string()),
        ]
    );
}
