//! ModernBERT against `transformers`: `../shared/models/tiny-modernbert` (a random-weight
//! `ModernBertForSequenceClassification`: global and sliding-window layers with their own RoPE θ, GeGLU, no
//! biases, mean pooling) on the 8 pairs of `../shared/golden/modern_public.safetensors`, from the golden token
//! ids: every hidden state as `transformers` returns them (layer outputs before `final_norm`, the last one
//! after it) within 1e-4 at real tokens and 5e-3 at padding, `last_hidden_state` and the logits within 1e-4.
//! Both config spellings read the same.
//!
//! The golden file holds NaN from the second layer on for the 6 padded pairs: `transformers` 5.17's eager
//! attention turns a padded query whose window holds no real token into NaN, which then reaches the real tokens
//! through zero-weighted values (its sdpa path gives finite values that agree with eager elsewhere to 4e-7).
//! Those rows are compared where the golden is finite, and sesame's outputs must be finite everywhere;
//! `tests/peers/family_encode.py` compares all pairs with `transformers`' sdpa path.

use sesame_core::modernbert::{LayerType, ModernBertConfig};
use sesame_core::ops::host::to_host;
use sesame_core::Encoder;
use sesame_testkit::{max_diff, shared_dir, tiny_classifier, Golden};

const REAL_TOL: f32 = 1e-4;
const PAD_TOL: f32 = 5e-3;

/// Max |got − want| at real and at padded rows where `want` is finite (every row of `got` must be), and the
/// number of rows compared.
fn finite_rows_diff(got: &[f32], want: &[f32], mask: &[i64], d: usize) -> (f32, f32, usize) {
    assert!(
        got.iter().all(|v| v.is_finite()),
        "sesame's output is not finite"
    );
    let (mut real, mut pad, mut rows) = (0f32, 0f32, 0);
    for (row, m) in mask.iter().enumerate() {
        let want = &want[row * d..(row + 1) * d];
        if !want.iter().all(|v| v.is_finite()) {
            continue;
        }
        rows += 1;
        let diff = got[row * d..(row + 1) * d]
            .iter()
            .zip(want)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        if *m == 1 {
            real = real.max(diff);
        } else {
            pad = pad.max(diff);
        }
    }
    (real, pad, rows)
}

#[test]
fn tiny_modernbert_matches_transformers() {
    let dir = shared_dir().join("models/tiny-modernbert");
    let config = ModernBertConfig::from_file(dir.join("config.json")).expect("config");
    assert_eq!(
        config.layer_types,
        [
            LayerType::Full,
            LayerType::Sliding,
            LayerType::Sliding,
            LayerType::Full
        ]
    );
    let model = tiny_classifier("tiny-modernbert");
    let Encoder::ModernBert(bert) = &model.bert else {
        panic!("a ModernBERT config builds ModernBERT's encoder")
    };
    let golden = Golden::open("modern_public.safetensors");
    let mask = golden.i64("modernbert.attention_mask").1;
    let input = golden.input_named("modernbert.", &Default::default());
    let out = bert
        .encode(input.input_ids.clone(), input.attention_mask.clone(), false)
        .expect("encode");
    // Rows (of 8 × 128) where the golden is finite: all of them up to the first sliding-window layer's input,
    // then the two unpadded pairs and the padded pairs' rows that NaN has not reached.
    let mut compared = Vec::new();
    let names = (0..out.encoded.hidden_states.len())
        .map(|i| format!("modernbert.hidden_states.{i}"))
        .chain(["modernbert.last_hidden_state".to_string()]);
    let tensors = out
        .encoded
        .hidden_states
        .iter()
        .chain([&out.last_hidden_state]);
    for (name, h) in names.zip(tensors) {
        let (shape, want) = golden.f32(&name);
        let got = to_host(h.clone()).expect("host");
        let (real, pad, rows) = finite_rows_diff(&got, &want, &mask, shape[2]);
        eprintln!("{name}: max diff real {real:.3e}, padding {pad:.3e} over {rows} finite rows");
        assert!(real <= REAL_TOL && pad <= PAD_TOL, "{name}: {real}, {pad}");
        compared.push(rows);
    }
    assert_eq!(
        &compared[..2],
        &[1024, 1024],
        "the first two are finite everywhere"
    );
    assert!(compared[2..].iter().all(|&r| r >= 256), "{compared:?}");
    // The logits through sesame's whole classification path (plain variant: `final_norm` of the last layer's
    // output, mean-pooled into the head).
    let logits = model.forward(input).expect("forward").logits;
    check_logits(
        &to_host(logits).expect("host"),
        &golden.f32("modernbert.logits").1,
    );
}

/// The logits of the pairs whose golden logits are finite: pairs 2 and 3, which fill all 128 positions.
fn check_logits(logits: &[f32], want: &[f32]) {
    assert!(logits.iter().all(|v| v.is_finite()));
    let finite: Vec<usize> = (0..8).filter(|r| want[2 * r].is_finite()).collect();
    assert_eq!(finite, [2, 3]);
    for r in finite {
        let diff = max_diff(&logits[2 * r..2 * r + 2], &want[2 * r..2 * r + 2]);
        eprintln!("logits of pair {r}: max diff {diff:.3e}");
        assert!(diff <= REAL_TOL, "logits of pair {r}: {diff}");
    }
}

#[test]
fn both_config_spellings_read_the_same() {
    let dir = shared_dir().join("models/tiny-modernbert");
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let new = ModernBertConfig::from_json_str(&text).expect("transformers 5 spelling");
    // The Hub's spelling: no layer_types or rope_parameters, the pattern as an interval and θ per kind.
    let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
    let object = old.as_object_mut().unwrap();
    object.remove("layer_types");
    object.remove("rope_parameters");
    object.insert("global_attn_every_n_layers".into(), 3.into());
    object.insert("global_rope_theta".into(), 160000.0.into());
    object.insert("local_rope_theta".into(), 10000.0.into());
    let old = ModernBertConfig::from_json_str(&old.to_string()).expect("Hub spelling");
    assert_eq!(
        (
            &old.layer_types,
            old.global_rope_theta,
            old.local_rope_theta
        ),
        (
            &new.layer_types,
            new.global_rope_theta,
            new.local_rope_theta
        )
    );
    // What changes the function and is not implemented is refused by name.
    for (field, value, want) in [
        (
            "rope_scaling",
            serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
            "rope_scaling",
        ),
        (
            "hidden_activation",
            serde_json::json!("gelu_new"),
            "gelu_new",
        ),
        (
            "layer_types",
            serde_json::json!(["full_attention"]),
            "layer_types names 1 layers",
        ),
        ("head_dim", serde_json::json!(32), "head_dim 32"),
    ] {
        let mut bad: serde_json::Value = serde_json::from_str(&text).unwrap();
        bad[field] = value;
        let err = ModernBertConfig::from_json_str(&bad.to_string())
            .expect_err(field)
            .to_string();
        assert!(err.contains(want), "{field}: {err}");
    }
    let mut yarn: serde_json::Value = serde_json::from_str(&text).unwrap();
    yarn["rope_parameters"]["sliding_attention"]["rope_type"] = "linear".into();
    let err = ModernBertConfig::from_json_str(&yarn.to_string())
        .expect_err("linear")
        .to_string();
    assert!(
        err.contains("rope_parameters.sliding_attention.rope_type is `linear`"),
        "{err}"
    );
}
