//! The fast paths compute the same function as the plain ones:
//! - `linear_tokens` (one `[B·n, d]` product) against burn's `Linear` on the rank-3 input, values and gradients;
//! - the blur as one banded `[n, n]` matrix product against the k shifted, mirrored copies it replaces, for
//!   several kernel sizes, σ and both boundary rules;
//! - sesame's sigmoid against the f64 formula on tensors long enough for burn-ndarray's SIMD paths.

use burn::backend::{Autodiff, NdArray};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::methods::blur::{gaussian_kernel, GaussianBlur};
use sesame_core::nn::linear_tokens;
use sesame_core::{AttentionMask, BlurBoundary};

type B = NdArray<f32>;
type AD = Autodiff<NdArray<f32>>;

/// The testkit's deterministic pseudo-random numbers in [-1, 1), as f32.
fn noise(len: usize, seed: u64) -> Vec<f32> {
    sesame_testkit::gradient_cases::noise(len, seed)
        .into_iter()
        .map(|v| v as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn values<const D: usize, BK: burn::tensor::backend::Backend>(t: Tensor<BK, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().unwrap()
}

#[test]
fn linear_tokens_equals_rank3_linear_in_values_and_gradients() {
    let device = Default::default();
    let (b, n, d_in, d_out) = (3, 7, 16, 24);
    let weight = Tensor::<AD, 2>::from_data(
        TensorData::new(noise(d_in * d_out, 1), [d_in, d_out]),
        &device,
    );
    let bias = Tensor::<AD, 1>::from_data(TensorData::new(noise(d_out, 2), [d_out]), &device);
    let layer = || Linear {
        weight: Param::from_tensor(weight.clone().detach().require_grad()),
        bias: Some(Param::from_tensor(bias.clone().detach().require_grad())),
    };
    let x = Tensor::<AD, 3>::from_data(
        TensorData::new(noise(b * n * d_in, 3), [b, n, d_in]),
        &device,
    );
    // A loss that weights every output differently, so any permutation of rows would show.
    let w_out = Tensor::<AD, 3>::from_data(
        TensorData::new(noise(b * n * d_out, 4), [b, n, d_out]),
        &device,
    );

    let plain_layer = layer();
    let plain_x = x.clone().require_grad();
    let plain = plain_layer.forward(plain_x.clone());
    let plain_grads = (plain.clone() * w_out.clone()).sum().backward();

    let fast_layer = layer();
    let fast_x = x.clone().require_grad();
    let fast = linear_tokens(&fast_layer, fast_x.clone());
    let fast_grads = (fast.clone() * w_out).sum().backward();

    assert_eq!(fast.dims(), [b, n, d_out]);
    assert!(max_abs_diff(&values(plain), &values(fast)) < 1e-5);
    let grad = |t: &Tensor<AD, 3>, g: &_| values(t.grad(g).unwrap());
    assert!(max_abs_diff(&grad(&plain_x, &plain_grads), &grad(&fast_x, &fast_grads)) < 1e-5);
    let wgrad = |l: &Linear<AD>, g: &_| values(l.weight.val().grad(g).unwrap());
    let diff_w = max_abs_diff(
        &wgrad(&plain_layer, &plain_grads),
        &wgrad(&fast_layer, &fast_grads),
    );
    assert!(diff_w < 1e-4, "weight gradient differs by {diff_w}");
    let bgrad = |l: &Linear<AD>, g: &_| values(l.bias.as_ref().unwrap().val().grad(g).unwrap());
    assert!(
        max_abs_diff(
            &bgrad(&plain_layer, &plain_grads),
            &bgrad(&fast_layer, &fast_grads)
        ) < 1e-4
    );
}

/// numpy "symmetric" reflection into `0..len`.
fn mirror(i: isize, len: usize) -> usize {
    let len = len as isize;
    let mut j = i.rem_euclid(2 * len);
    if j >= len {
        j = 2 * len - 1 - j;
    }
    j as usize
}

/// The blur the way the reference code writes it: k shifted copies of the (mirror-padded) sequence, weighted
/// and summed; positions at and past `len` are copied through.
fn shifted_copies(
    x: &[f32],
    b: usize,
    n: usize,
    d: usize,
    kernel: &[f64],
    lens: &[usize],
) -> Vec<f32> {
    let half = (kernel.len() / 2) as isize;
    let mut out = vec![0f32; b * n * d];
    for bi in 0..b {
        let len = lens[bi];
        for i in 0..n {
            for c in 0..d {
                let at = |j: usize| x[(bi * n + j) * d + c] as f64;
                out[(bi * n + i) * d + c] = if i >= len {
                    at(i) as f32
                } else {
                    kernel
                        .iter()
                        .enumerate()
                        .map(|(t, w)| w * at(mirror(i as isize + t as isize - half, len)))
                        .sum::<f64>() as f32
                };
            }
        }
    }
    out
}

#[test]
fn banded_blur_equals_shifted_copies() {
    let device = Default::default();
    let (b, n, d) = (3, 11, 5);
    let lens = [11usize, 6, 1];
    let mask_data: Vec<i64> = lens
        .iter()
        .flat_map(|&l| (0..n).map(move |i| i64::from(i < l)))
        .collect();
    let mask = AttentionMask::new(Tensor::<B, 2, Int>::from_data(
        TensorData::new(mask_data, [b, n]),
        &device,
    ));
    let x_data = noise(b * n * d, 7);
    let x = Tensor::<B, 3>::from_data(TensorData::new(x_data.clone(), [b, n, d]), &device);
    for k in [3usize, 5, 7] {
        for sigma in [0.3, 1.0, 2.5] {
            let kernel = gaussian_kernel(k, sigma);
            for boundary in [BlurBoundary::PaddedEnd, BlurBoundary::TrueEnd] {
                let blur = GaussianBlur {
                    kernel: kernel.clone(),
                    boundary,
                };
                let got = values(blur.forward(x.clone(), &mask).expect("blur"));
                let lens_used: Vec<usize> = match boundary {
                    BlurBoundary::PaddedEnd => vec![n; b],
                    BlurBoundary::TrueEnd => lens.to_vec(),
                };
                let want = shifted_copies(&x_data, b, n, d, &kernel, &lens_used);
                let diff = max_abs_diff(&got, &want);
                assert!(
                    diff < 1e-6,
                    "k {k} σ {sigma} {boundary:?}: differs by {diff}"
                );
            }
        }
    }
}

#[test]
fn sigmoid_is_correctly_rounded_on_long_f32_tensors() {
    // burn-ndarray's SIMD `recip` (taken for contiguous f32 tensors of 32+ elements) is the hardware estimate,
    // 12-14 bits; a sigmoid built on it was off by up to ~2e-4 relative, differently per CPU. The sigmoid must
    // agree with the f64 formula to a few f32 ulps wherever the tensor is long enough for the SIMD path.
    let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) / 50.0).collect();
    let input =
        Tensor::<B, 2>::from_data(TensorData::new(xs.clone(), [10, 100]), &Default::default());
    let output = sesame_core::ops::sigmoid(input);
    assert_eq!(output.dtype(), burn::tensor::DType::F32);
    for (x, g) in xs.iter().zip(values(output)) {
        let want = 1.0 / (1.0 + (-(*x as f64)).exp());
        let rel = (g as f64 - want).abs() / want;
        assert!(
            rel < 4.0 * f32::EPSILON as f64,
            "sigmoid({x}) = {g}, want {want} (rel {rel:e})"
        );
    }
}
