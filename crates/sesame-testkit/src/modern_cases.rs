//! ModernBERT's components whose gradients are checked (with the other components, [`crate::gradient_cases`]):
//! the rotary embedding, attention under the sliding window joined with padding, and GeGLU's gate; DeBERTa's
//! disentangled attention with its relative-position terms.

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};
use sesame_core::bert::attention::scaled_dot_product;
use sesame_core::bert::dropout::{Dropout, DropoutStream, MaskSource};
use sesame_core::deberta::attention::{query_and_pair_masks, AttentionContext, DebertaV2Attention};
use sesame_core::deberta::relative::RelativeIndex;
use sesame_core::deberta::DebertaV2Config;
use sesame_core::fused::{rope, SesameBackend};
use sesame_core::methods::variant::{AttentionConfig, ScoreNormalizer};
use sesame_core::modernbert::config::Activation;
use sesame_core::modernbert::layer::gated;
use sesame_core::modernbert::rope::{rope_tables, window_bias};

use crate::gradient_cases::{mask_on, noise, project, FixedParams, GradCase};

/// RoPE on two heads of width 4, over 5 positions; attention with a window of ±2 over a ragged batch; GeGLU with
/// GELU.
pub fn modernbert_cases<B: AutodiffBackend + SesameBackend>(
    device: &B::Device,
    cases: &mut Vec<GradCase<'static, B>>,
) {
    let (cos, sin) = rope_tables::<B>(5, 4, 10_000.0, device);
    cases.push(GradCase::new(
        "RoPE wrt q",
        noise(2 * 5 * 8, 61),
        [2, 5, 8],
        move |x| project(rope(x, &cos, &sin, 2), 62),
    ));
    // Every query keeps a real key in its window: a padded query with none gets logits of about −10⁴ + s,
    // whose f32 rounding (10⁻³ at 10⁴) the GPU backends do not share with the f64 reference; the CPU parity
    // test covers such queries.
    let mask = mask_on::<B>(vec![vec![1, 1, 1, 1, 1, 1], vec![1, 1, 1, 1, 0, 0]], device);
    let bias = window_bias(&mask, 2);
    let dropout = Dropout::new(0.0, &DropoutStream::new(MaskSource::suited_to::<B>()));
    let (cos, sin) = rope_tables::<B>(6, 2, 160_000.0, device);
    cases.push(GradCase::new(
        "sliding-window attention with RoPE wrt x",
        noise(2 * 6 * 4, 63).iter().map(|v| 2.0 * v).collect(),
        [2, 6, 4],
        move |x| {
            let q = rope(x.clone(), &cos, &sin, 2);
            let k = rope(x.clone() * 0.5, &cos, &sin, 2);
            let normalizer = ScoreNormalizer::Softmax;
            let (context, _) = scaled_dot_product(q, k, x, bias.clone(), 2, &normalizer, &dropout);
            project(context, 64)
        },
    ));
    let x0: Vec<f64> = noise(2 * 3 * 6, 65).iter().map(|v| 2.5 * v).collect();
    cases.push(GradCase::new("GeGLU wrt x", x0, [2, 3, 6], |x| {
        project(gated(x, Activation::Gelu), 66)
    }));
}

/// DeBERTa's disentangled attention (content, c2p and p2c scores over log-bucketed distances, shared
/// projections) on a ragged batch of 7 positions, 2 heads of width 4, 4 buckets (distances beyond 2 share
/// buckets): once with respect to the input, once with respect to the relative embeddings.
pub fn deberta_cases<B: AutodiffBackend + SesameBackend>(
    device: &B::Device,
    cases: &mut Vec<GradCase<'static, B>>,
) {
    let config = DebertaV2Config::from_json_str(
        r#"{"model_type": "deberta-v2", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 16, "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0, "initializer_range": 0.5, "relative_attention": true,
            "position_buckets": 4, "max_relative_positions": 16, "pos_att_type": ["p2c", "c2p"],
            "share_att_key": true, "position_biased_input": false}"#,
    )
    .expect("a valid config");
    let variant = AttentionConfig::default()
        .layer_variants(1)
        .expect("the default variant")
        .remove(0);
    let stream = DropoutStream::new(MaskSource::suited_to::<B>());
    // The same numbers on every backend (a backend's own initialisation draws from its own stream).
    let attention =
        DebertaV2Attention::<B>::new(&config, variant, &stream, device).map(&mut FixedParams {
            seed: 200,
            scale: 0.5,
        });
    let (b, n, d) = (2, 7, 8);
    let mask = mask_on::<B>(vec![vec![1; n], vec![1, 1, 1, 1, 1, 0, 0]], device);
    let (query_mask, pair_bias) = query_and_pair_masks(&mask);
    let index = RelativeIndex::<B>::new(n, 4, Some(4), 16, device);
    let rel0 = noise(8 * d, 67);
    let rel_fixed = Tensor::<B, 2>::from_data(TensorData::new(rel0.clone(), [8, d]), device);
    let x0 = noise(b * n * d, 68);
    let x_fixed = Tensor::<B, 3>::from_data(TensorData::new(x0.clone(), [b, n, d]), device);
    let run = move |x: Tensor<B, 3>, rel: Tensor<B, 2>| {
        let cx = AttentionContext {
            pair_bias: &pair_bias,
            query_mask: &query_mask,
            relative: Some((&rel, &index)),
            mask: &mask,
        };
        let (out, _) = attention.self_attention.forward(x, &cx).expect("attention");
        project(out, 69)
    };
    let run_x = run.clone();
    cases.push(GradCase::new(
        "disentangled attention (c2p, p2c, log buckets) wrt x",
        x0,
        [b, n, d],
        move |x| run_x(x, rel_fixed.clone()),
    ));
    cases.push(GradCase::new(
        "disentangled attention wrt the relative embeddings",
        rel0,
        [8, d],
        move |rel| run(x_fixed.clone(), rel),
    ));
}
