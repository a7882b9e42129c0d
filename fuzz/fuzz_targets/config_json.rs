//! `config.json` (BertConfig) and a model-variant JSON (SesameConfig) on arbitrary bytes: parse, then validate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame_core::{BertConfig, SesameConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let layers = match BertConfig::from_json_str(text) {
        Ok(config) => {
            let _ = config.validate();
            config.num_hidden_layers.min(64)
        }
        Err(_) => 12,
    };
    if let Ok(variant) = serde_json::from_str::<SesameConfig>(text) {
        let _ = variant.validate(layers);
    }
});
