//! Building a model from a model directory nobody checked: a `config.json` and a `model.safetensors` made of
//! arbitrary bytes, loaded as an encoder and as a classifier. Every input must end in a model or a clean error:
//! no panic, no abort in the allocator, no hang, no memory beyond the limit set here (the header check and the
//! memory estimate must refuse a config whose sizes the file does not back before anything is allocated).
//!
//! Input layout: a little-endian u16 `n`, then `n` bytes of `config.json`, then the safetensors file. The seed
//! corpus holds every family's config with a small model `transformers` wrote, and each family's released
//! config beside a file that does not match it.
#![no_main]

use std::path::PathBuf;

use burn::backend::NdArray;
use libfuzzer_sys::fuzz_target;
use sesame_core::{AttentionConfig, BertModel, MissingWeights, SequenceClassifier, SesameConfig};

/// What a model may take here (`--max-memory`): far below libFuzzer's `-rss_limit_mb`, so an estimate that
/// lets too much through shows as an out-of-memory crash.
const MEMORY_LIMIT: u64 = 256 << 20;

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("sesame-fuzz-model-dir-{}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (config, weights) = rest.split_at(n);
    let dir = scratch();
    if std::fs::create_dir_all(&dir).is_err()
        || std::fs::write(dir.join("config.json"), config).is_err()
        || std::fs::write(dir.join("model.safetensors"), weights).is_err()
    {
        return;
    }
    sesame_core::memory::set_limit(Some(MEMORY_LIMIT));
    let device = Default::default();
    // The encoder as `encode` loads it (refusing missing weights), the classifier as `finetune
    // --allow-missing-weights` does: each policy once, each kind of model once.
    let _ = BertModel::<NdArray<f32>>::from_pretrained(
        &dir,
        &AttentionConfig::default(),
        MissingWeights::Refuse,
        &device,
    );
    let _ = SequenceClassifier::<NdArray<f32>>::from_pretrained(
        &dir,
        &SesameConfig::sesamebert(3),
        MissingWeights::Allow,
        &device,
    );
});
