//! The GLUE and HANS readers on arbitrary bytes: every task and split layout, both malformed-row policies.
//! The first byte picks the task and split.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sesame_train::{MalformedRows, Split, Task};

const TASKS: [Task; 11] = [
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
const SPLITS: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let task = TASKS[selector as usize % TASKS.len()];
    let split = SPLITS[(selector as usize / TASKS.len()) % SPLITS.len()];
    for policy in [MalformedRows::Error, MalformedRows::Skip] {
        if let Ok(dataset) = task.parse_file(Path::new("fuzz.tsv"), bytes, split, policy) {
            for example in &dataset.examples {
                assert!(example.line >= 1);
            }
        }
    }
});
