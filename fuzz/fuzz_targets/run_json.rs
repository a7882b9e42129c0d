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

/// What parses must serialise, read back, and serialise to the same bytes: a record sesame writes is a record it
/// reads, with nothing lost or changed on the way.
fn round_trip<T: DeserializeOwned + Serialize>(bytes: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(bytes) else {
        return;
    };
    let written = serde_json::to_vec(&value).expect("a parsed record serialises");
    let reread: T = serde_json::from_slice(&written).unwrap_or_else(|e| {
        panic!("sesame cannot read back what it wrote ({e}): {}", String::from_utf8_lossy(&written))
    });
    let rewritten = serde_json::to_vec(&reread).expect("a parsed record serialises");
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&rewritten),
        "the record changed on its way through a write and a read"
    );
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
