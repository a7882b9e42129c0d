//! The GLUE and HANS readers on arbitrary bytes: every task and split layout, both malformed-row policies.
//! The first byte picks the task and split.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sesame_train::{MalformedRows, Split, Task};

const SPLITS: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    // Every task with a reader: GLUE's nine, the diagnostic set and HANS.
    let tasks = Task::EVERY;
    let task = tasks[selector as usize % tasks.len()];
    let split = SPLITS[(selector as usize / tasks.len()) % SPLITS.len()];
    for policy in [MalformedRows::Error, MalformedRows::Skip] {
        if let Ok(dataset) = task.parse_file(Path::new("fuzz.tsv"), bytes, split, policy) {
            for example in &dataset.examples {
                assert!(example.line >= 1);
            }
        }
    }
});
