//! What the command-line tests share: the `sesame` binary of this build, run as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

/// The `sesame` binary of this build, ready for arguments and environment.
pub fn sesame_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
}

/// `sesame args…`, run to completion.
pub fn sesame(args: &[&str]) -> Output {
    sesame_command().args(args).output().expect("sesame runs")
}

/// A path as a command-line argument.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
