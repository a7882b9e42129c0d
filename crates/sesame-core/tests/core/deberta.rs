//! DeBERTa-v3 against `transformers`: `../shared/models/tiny-deberta-v3` (a random-weight
//! `DebertaV2ForSequenceClassification` in v3's configuration: relative attention with c2p and p2c terms over
//! 8 log buckets, shared projections, `encoder.LayerNorm` over the relative embeddings, no absolute positions
//! or token types) on the 8 pairs of `../shared/golden/modern_public.safetensors`, from the golden token ids:
//! every hidden state within 1e-4 at real tokens and 5e-3 at padding, the logits within 1e-4. The pairs run
//! to 128 tokens, far past the 4 distances that keep their own bucket, so the log buckets are exercised.

use std::collections::HashMap;

use burn::module::{Module, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::deberta::{DebertaV2ClassifierHead, DebertaV2Config, DebertaV2Model};
use sesame_core::io::weights::load_params;
use sesame_core::nn::origin::{FreshParams, ParamOrigin};
use sesame_core::ops::host::to_host;
use sesame_core::{AttentionConfig, Family, SesameBackend};
use sesame_testkit::{max_diff, shared_dir, CpuBackend, Golden};

const REAL_TOL: f32 = 1e-4;
const PAD_TOL: f32 = 5e-3;

/// `DebertaV2ForSequenceClassification`'s tree (keys `deberta.*`, `pooler.*`, `classifier.*`).
#[derive(Module, Debug)]
struct Classifier<B: Backend> {
    bert: DebertaV2Model<B>,
    classifier: DebertaV2ClassifierHead<B>,
}

impl<B: SesameBackend> FreshParams<B> for Classifier<B> {
    fn fresh_params(&self) -> HashMap<ParamId, ParamOrigin> {
        HashMap::new()
    }
}

fn ints(golden: &Golden, name: &str) -> Tensor<CpuBackend, 2, Int> {
    let (shape, values) = golden.i64(name);
    Tensor::from_data(
        TensorData::new(values, [shape[0], shape[1]]),
        &Default::default(),
    )
}

/// Max |got − want| over the rows of real tokens and over the padded rows.
fn split_diff(got: &[f32], want: &[f32], mask: &[i64], d: usize) -> (f32, f32) {
    let (mut real, mut pad) = (0f32, 0f32);
    for (row, m) in mask.iter().enumerate() {
        let diff = max_diff(&got[row * d..(row + 1) * d], &want[row * d..(row + 1) * d]);
        if *m == 1 {
            real = real.max(diff);
        } else {
            pad = pad.max(diff);
        }
    }
    (real, pad)
}

fn tiny_deberta() -> Classifier<CpuBackend> {
    let dir = shared_dir().join("models/tiny-deberta-v3");
    let config = DebertaV2Config::from_file(dir.join("config.json")).expect("config");
    assert_eq!(
        (
            config.attention_span(),
            config.max_relative_positions,
            config.pos_att_type.scale_factor()
        ),
        (8, 256, 3)
    );
    let device = Default::default();
    let bert = DebertaV2Model::new(&config, &AttentionConfig::default(), &device).expect("model");
    let classifier = DebertaV2ClassifierHead::new(&config, 2, bert.dropout_stream(), &device);
    let mut model = Classifier { bert, classifier };
    let report = load_params(
        &mut model,
        Family::DebertaV2,
        &[dir.join("model.safetensors")],
    )
    .expect("weights");
    assert!(report.missing.is_empty(), "missing {:?}", report.missing);
    assert!(
        report.unexpected.is_empty(),
        "unexpected {:?}",
        report.unexpected
    );
    model
}

#[test]
fn tiny_deberta_v3_matches_transformers() {
    let model = tiny_deberta();
    let golden = Golden::open("modern_public.safetensors");
    let mask = golden.i64("deberta-v3.attention_mask").1;
    let encoded = model
        .bert
        .encode(
            ints(&golden, "deberta-v3.input_ids"),
            Some(ints(&golden, "deberta-v3.token_type_ids")),
            ints(&golden, "deberta-v3.attention_mask"),
            false,
        )
        .expect("encode");
    assert_eq!(encoded.hidden_states.len(), 3);
    let names = (0..3)
        .map(|i| format!("deberta-v3.hidden_states.{i}"))
        .chain(["deberta-v3.last_hidden_state".to_string()]);
    let last = encoded.hidden_states.last().expect("a layer").clone();
    for (name, h) in names.zip(encoded.hidden_states.iter().chain([&last])) {
        let (shape, want) = golden.f32(&name);
        let got = to_host(h.clone()).expect("host");
        let (real, pad) = split_diff(&got, &want, &mask, shape[2]);
        eprintln!("{name}: max diff real {real:.3e}, padding {pad:.3e}");
        assert!(real <= REAL_TOL && pad <= PAD_TOL, "{name}: {real}, {pad}");
    }
    let logits = to_host(model.classifier.forward(last)).expect("host");
    let diff = max_diff(&logits, &golden.f32("deberta-v3.logits").1);
    eprintln!("logits: max diff {diff:.3e}");
    assert!(diff <= REAL_TOL, "logits: {diff}");
}

#[test]
fn unimplemented_config_fields_are_refused_by_name() {
    let dir = shared_dir().join("models/tiny-deberta-v3");
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    for (field, value, want) in [
        ("conv_kernel_size", serde_json::json!(3), "conv_kernel_size"),
        ("pos_att_type", serde_json::json!(["p2p"]), "`p2p`"),
        (
            "attention_head_size",
            serde_json::json!(32),
            "attention_head_size",
        ),
        ("hidden_act", serde_json::json!("gelu_new"), "gelu_new"),
        ("norm_rel_ebd", serde_json::json!("rms"), "norm_rel_ebd"),
        (
            "model_type",
            serde_json::json!("deberta"),
            "not a DeBERTa-v2/v3 config",
        ),
    ] {
        let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
        config[field] = value;
        let err = DebertaV2Config::from_json_str(&config.to_string())
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{field}: {err}");
    }
    // The older string spelling of pos_att_type reads as the list.
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config["pos_att_type"] = serde_json::json!("c2p|p2c");
    let read = DebertaV2Config::from_json_str(&config.to_string()).expect("string form");
    assert!(read.pos_att_type.c2p && read.pos_att_type.p2c);
}
