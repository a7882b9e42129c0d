//! Numerical parity of the BERT encoder with Hugging Face `transformers` (golden files in `../shared/golden`),
//! on the CPU backend.

use sesame_core::ops::host::to_host;
use sesame_core::{AttentionConfig, BertModel, BlurTarget};
use sesame_testkit::CpuBackend;
use sesame_testkit::{golden_blur, masked_max_diff, max_diff, minilm_dir, minilm_f16_dir, Golden};

const REAL_TOL: f32 = 1e-4;
const PAD_TOL: f32 = 5e-3;

fn load(dir: &std::path::Path, attention: &AttentionConfig) -> BertModel<CpuBackend> {
    let (model, report) = BertModel::<CpuBackend>::from_pretrained(
        dir,
        attention,
        sesame_core::MissingWeights::Refuse,
        &Default::default(),
    )
    .expect("checkpoint loads");
    assert!(report.missing.is_empty(), "missing: {:?}", report.missing);
    assert!(
        report.unexpected.is_empty(),
        "unexpected: {:?}",
        report.unexpected
    );
    model
}

/// Compares the listed hidden states of `model` on the golden input with `golden[prefix + i]`.
fn check_hidden_states(
    model: &BertModel<CpuBackend>,
    golden: &Golden,
    prefix: &str,
    layers: &[usize],
    real_tol: f32,
    pad_tol: f32,
) {
    let (_, mask) = golden.i64("attention_mask");
    let out = model.forward(golden.input(), false).expect("forward");
    for &i in layers {
        let (shape, want) = golden.f32(&format!("{prefix}{i}"));
        let got = to_host(out.hidden_states[i].clone()).expect("host copy");
        let (real, pad) = masked_max_diff(&got, &want, &mask, shape[2]);
        eprintln!("{prefix}{i}: max diff real tokens {real:.3e}, padding {pad:.3e}");
        assert!(
            real <= real_tol,
            "{prefix}{i}: real-token diff {real} > {real_tol}"
        );
        assert!(
            pad <= pad_tol,
            "{prefix}{i}: padding diff {pad} > {pad_tol}"
        );
    }
}

#[test]
fn hidden_states_and_pooler_match_transformers() {
    let model = load(&minilm_dir(), &AttentionConfig::default());
    let golden = Golden::open("minilm_public.safetensors");
    check_hidden_states(
        &model,
        &golden,
        "hidden_states.",
        &[0, 1, 2, 3, 4, 5, 6],
        REAL_TOL,
        PAD_TOL,
    );

    let out = model.forward(golden.input(), false).expect("forward");
    let (_, want) = golden.f32("pooler_output");
    let diff = max_diff(
        &to_host(out.pooler_output.expect("BERT has a pooler")).expect("host"),
        &want,
    );
    eprintln!("pooler_output: max diff {diff:.3e}");
    assert!(diff <= 1e-4, "pooler diff {diff}");
}

#[test]
fn attention_probabilities_match_transformers() {
    let model = load(&minilm_dir(), &AttentionConfig::default());
    let golden = Golden::open("minilm_public_variants.safetensors");
    let out = model.forward(golden.input(), true).expect("forward");
    let attentions = out.attentions.expect("attentions requested");
    for (layer, examples) in [(0usize, 2usize), (5, 1)] {
        let (shape, want) = golden.f32(&format!("attentions.{layer}"));
        assert_eq!(shape[0], examples);
        let got = attentions[layer].clone().narrow(0, 0, examples);
        let diff = max_diff(&to_host(got).expect("host"), &want);
        eprintln!("attentions.{layer}: max diff {diff:.3e}");
        assert!(diff <= 1e-5, "attentions.{layer} diff {diff}");
    }
}

#[test]
fn float16_checkpoint_loads_close_to_float32_golden() {
    let model = load(&minilm_f16_dir(), &AttentionConfig::default());
    let golden = Golden::open("minilm_public.safetensors");
    // Rows of padding amplify the f16 rounding of the weights (seen: 7.5e-2); real tokens stay near 3.5e-3.
    check_hidden_states(&model, &golden, "hidden_states.", &[0, 3, 6], 2e-2, 0.1);
}

#[test]
fn context_blur_matches_transformers() {
    let model = load(&minilm_dir(), &golden_blur(BlurTarget::Context));
    let golden = Golden::open("minilm_public_variants.safetensors");
    check_hidden_states(
        &model,
        &golden,
        "blur_context_k3_s0.5.hidden_states.",
        &[3, 6],
        REAL_TOL,
        PAD_TOL,
    );
}

#[test]
fn value_blur_matches_transformers() {
    let model = load(&minilm_dir(), &golden_blur(BlurTarget::Value));
    let golden = Golden::open("minilm_public_variants.safetensors");
    check_hidden_states(
        &model,
        &golden,
        "blur_value_k3_s0.5.hidden_states.",
        &[3, 6],
        REAL_TOL,
        PAD_TOL,
    );
}
