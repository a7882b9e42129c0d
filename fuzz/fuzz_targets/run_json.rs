//! The JSON records of a run directory on arbitrary bytes: the recorded job, the report, final metrics, every
//! `metrics.jsonl` line, a checkpoint's trainer state and an export's `sesame.json`; what parses must write
//! back. The first byte picks the record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sesame_train::export::SesameMeta;
use sesame_train::run::FinalMetrics;
use sesame_train::{FinetuneJob, MetricsLine, RunReport, TrainerState};

fn round_trip<T: DeserializeOwned + Serialize>(bytes: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(bytes) {
        let _ = serde_json::to_vec(&value);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    match selector % 6 {
        0 => round_trip::<FinetuneJob>(bytes),
        1 => round_trip::<RunReport>(bytes),
        2 => round_trip::<FinalMetrics>(bytes),
        3 => {
            for line in bytes.split(|&b| b == b'\n') {
                round_trip::<MetricsLine>(line);
            }
        }
        4 => round_trip::<TrainerState>(bytes),
        _ => round_trip::<SesameMeta>(bytes),
    }
});
