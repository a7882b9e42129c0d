//! The tables of rotary position embeddings (RoPE; the rotation itself is [`crate::fused::rope`], one fused
//! operation) and the sliding window of ModernBERT's local layers.
//!
//! RoPE rotates each pair `(x_i, x_{i + d_h/2})` of a head's query and key by the angle `p · θ^(−2i/d_h)` at
//! position p (`transformers`' `rotate_half` convention), so that `q·k` depends on positions only through their
//! difference. The angles are computed in float32, as `transformers` computes them whatever the model's dtype.

use burn::tensor::{backend::Backend, Tensor, TensorData};

use crate::nn::mask::{AttentionMask, MASK_BIAS};

/// `cos` and `sin` of the RoPE angles for positions `0..n`, each `[n, d_h]` (the `d_h / 2` frequencies twice).
pub fn rope_tables<B: Backend>(
    n: usize,
    head_size: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let half = head_size / 2;
    // inv_freq_i = 1 / θ^(2i / d_h), in float32 like `compute_default_rope_parameters`.
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_size as f32))
        .collect();
    let mut cos = Vec::with_capacity(n * head_size);
    let mut sin = Vec::with_capacity(n * head_size);
    for p in 0..n {
        for i in 0..head_size {
            let angle = p as f32 * inv_freq[i % half];
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    let table = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [n, head_size]), device);
    (table(cos), table(sin))
}

/// The logit bias of a sliding-window layer, `[B, 1, n, n]`: 0 where key j is a real token and
/// `|i − j| ≤ half_window`, [`MASK_BIAS`] elsewhere. The two conditions are joined before they become a bias
/// (as `transformers` joins its masks), so a padded query with no real key in its window spreads its weight
/// evenly over every key, as there.
pub fn window_bias<B: Backend>(mask: &AttentionMask<B>, half_window: usize) -> Tensor<B, 4> {
    let keys = mask.mask();
    let [b, n] = keys.dims();
    let inside: Vec<f32> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            f32::from(i.abs_diff(j) <= half_window)
        })
        .collect();
    let window: Tensor<B, 4> =
        Tensor::from_data(TensorData::new(inside, [1, 1, n, n]), &keys.device());
    let allowed = window * keys.reshape([b, 1, 1, n]);
    (allowed.neg() + 1.0).mul_scalar(MASK_BIAS)
}
