//! The tokenizer on arbitrary text: bytes split at the first 0xFF into a pair, decoded lossily (as a TSV cell
//! would never be: the readers reject invalid UTF-8 first) and as-is where valid. MiniLM's tokenizer from
//! `$SESAME_SHARED/models/all-MiniLM-L6-v2` (default: `../shared` beside the repository).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sesame_core::BertTokenizer;

fn tokenizer() -> &'static BertTokenizer {
    static TOKENIZER: OnceLock<BertTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let shared = std::env::var_os("SESAME_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
        BertTokenizer::from_dir(shared.join("models/all-MiniLM-L6-v2"), 128)
            .expect("MiniLM tokenizer (set SESAME_SHARED)")
    })
}

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&x| x == 0xFF) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let a = String::from_utf8_lossy(a);
    let b = b.map(String::from_utf8_lossy);
    let tokenizer = tokenizer();
    if let Ok(encoded) = tokenizer.encode(&a, b.as_deref()) {
        assert!(encoded.len() <= 128, "longer than max_length");
        assert_eq!(encoded.input_ids.len(), encoded.token_type_ids.len());
    }
    let _ = tokenizer.encode(&a, None);
});
