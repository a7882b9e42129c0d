//! Checkpoint loading on arbitrary bytes: safetensors headers, dtypes, shapes and names, into a small BERT
//! (2 layers, 32 wide, 60-token vocabulary) and a SesameBERT classifier around it.
#![no_main]

use std::path::PathBuf;

use burn::backend::NdArray;
use libfuzzer_sys::fuzz_target;
use sesame_core::{BertConfig, SequenceClassifier, SesameConfig};

fn tiny() -> BertConfig {
    let mut c = BertConfig::with_shape(2, 32, 4, 64);
    c.vocab_size = 60;
    c.max_position_embeddings = 32;
    c
}

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("sesame-fuzz-checkpoint-{}.safetensors", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let device = Default::default();
    let Ok(mut model) =
        SequenceClassifier::<NdArray<f32>>::new(&tiny(), &SesameConfig::sesamebert(2), &device)
    else {
        return;
    };
    if let Ok(report) = model.load_files(std::slice::from_ref(&path)) {
        let _ = report.require_all(&path);
    }
});
