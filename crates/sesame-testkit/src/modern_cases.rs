//! ModernBERT's components whose gradients are checked (with the other components, [`crate::gradient_cases`]):
//! the rotary embedding, attention under the sliding window joined with padding, and GeGLU's gate.

use burn::tensor::backend::AutodiffBackend;
use sesame_core::bert::attention::scaled_dot_product;
use sesame_core::bert::dropout::{Dropout, DropoutStream, MaskSource};
use sesame_core::fused::SesameBackend;
use sesame_core::methods::variant::ScoreNormalizer;
use sesame_core::modernbert::config::Activation;
use sesame_core::modernbert::layer::gated;
use sesame_core::modernbert::rope::{apply_rope, rope_tables, window_bias};

use crate::gradient_cases::{mask_on, noise, project, GradCase};

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
        move |x| project(apply_rope(x, &cos, &sin, 2), 62),
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
            let q = apply_rope(x.clone(), &cos, &sin, 2);
            let k = apply_rope(x.clone() * 0.5, &cos, &sin, 2);
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
