//! The experiment-grid TOML (`sesame report --grid`) on arbitrary text: parse, overlay and validate.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sesame_cli::report::config::GridConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = GridConfig::parse(text, Path::new("grid.toml"));
});
