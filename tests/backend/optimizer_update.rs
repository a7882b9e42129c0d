//! The optimizer's one-pass AdamW update (`SesameBackend::adamw_update`) against the composed burn ops it
//! replaces and against the update written out element by element: the same bits, on sizes that cross the
//! kernel's parallel blocks, for the first and a later update, with and without weight decay and gradient
//! scale; and a parameter whose buffer is shared is copied, not overwritten.
//!
//! On a backend without a kernel of its own (the GPU backends) the method *is* the composed form, so only the
//! element-wise reference is compared there, within 1e-6 relative.

use burn::tensor::backend::Backend as _;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use sesame::backend::{self, Backend};
use sesame_core::fused::{composed, AdamWStep};
use sesame_core::SesameBackend;
use sesame_testkit::gradient_cases::noise;

fn tensor(values: &[f32], device: &backend::Device) -> FloatTensor<Backend> {
    Tensor::<Backend, 1>::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
        .into_primitive()
        .tensor()
}

fn values(t: FloatTensor<Backend>) -> Vec<f32> {
    Tensor::<Backend, 1>::from_primitive(TensorPrimitive::Float(t))
        .into_data()
        .to_vec::<f32>()
        .expect("f32 values")
}

fn random(n: usize, seed: u64, scale: f64) -> Vec<f32> {
    noise(n, seed)
        .into_iter()
        .map(|v| (v * scale) as f32)
        .collect()
}

/// `torch.optim.AdamW`'s update written out for one element, in the order and the f32 rounding the
/// optimizer's composed ops use.
fn reference(p: f32, g: f32, moments: Option<(f32, f32)>, scale: f32, s: &AdamWStep) -> [f32; 3] {
    let f = |x: f64| x as f32;
    let g = g * scale;
    let p = p * s.decay.map_or(1.0, f);
    let (m, v) = match moments {
        Some((m, v)) => (
            m * f(s.beta1) + g * f(1.0 - s.beta1),
            v * f(s.beta2) + (g * g) * f(1.0 - s.beta2),
        ),
        None => (g * f(1.0 - s.beta1), (g * g) * f(1.0 - s.beta2)),
    };
    let denom = v.sqrt() / f(s.bias2_sqrt) + f(s.epsilon);
    [p - (m / denom) * f(s.step_size), m, v]
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn adamw_update_gives_the_composed_ops_bits() {
    let device = backend::open().expect("the chosen backend opens");
    // One element, a size below one parallel block, and one across three blocks with a ragged end.
    for (case, n) in [1usize, 1000, 3 * 65_536 + 5].into_iter().enumerate() {
        let seed = 10 * case as u64;
        let (p, g) = (random(n, seed, 0.05), random(n, seed + 1, 0.01));
        let (m, v) = (random(n, seed + 2, 0.003), random(n, seed + 3, 1e-5));
        let v: Vec<f32> = v.iter().map(|x| x.abs()).collect();
        for (first, decay, scale) in [
            (true, Some(1.0 - 3e-5 * 0.01), None),
            (false, Some(1.0 - 3e-5 * 0.01), Some(0.37f32)),
            (false, None, None),
        ] {
            let t = if first { 1 } else { 7 };
            let step = AdamWStep {
                decay,
                beta1: 0.9,
                beta2: 0.999,
                bias2_sqrt: (1.0 - 0.999f64.powi(t)).sqrt(),
                epsilon: 1e-6,
                step_size: 3e-5 / (1.0 - 0.9f64.powi(t)),
            };
            let inputs = || {
                let moments = (!first).then(|| [tensor(&m, &device), tensor(&v, &device)]);
                // The scale as a view into a larger buffer, at an offset, as a slice of the norm would be.
                let scale = scale.map(|s| {
                    let whole = Tensor::<Backend, 1>::from_data([9.0, s], &device);
                    whole.slice(1..2).into_primitive().tensor()
                });
                (tensor(&p, &device), tensor(&g, &device), moments, scale)
            };
            let (p0, g0, m0, s0) = inputs();
            let fused = <Backend as SesameBackend>::adamw_update(p0, g0, m0, s0, step).map(values);
            let what = format!("n = {n}, first = {first}, decay {decay:?}, scale {scale:?}");
            for i in 0..n {
                let moments = (!first).then(|| (m[i], v[i]));
                let want = reference(p[i], g[i], moments, scale.unwrap_or(1.0), &step);
                for (k, name) in ["param", "m", "v"].iter().enumerate() {
                    let (got, want) = (fused[k][i], want[k]);
                    // A GPU's square root and division need not round as the CPU's do.
                    let same = if backend::ON_HOST {
                        got.to_bits() == want.to_bits()
                    } else {
                        (got - want).abs() <= 1e-6 * want.abs()
                    };
                    assert!(same, "{what}: {name}[{i}]: {got} vs {want}");
                }
            }
            if backend::ON_HOST {
                let (p0, g0, m0, s0) = inputs();
                let composed = composed::adamw_update::<Backend>(p0, g0, m0, s0, step).map(values);
                for k in 0..3 {
                    assert_eq!(bits(&fused[k]), bits(&composed[k]), "{what}: output {k}");
                }
            }
        }
    }
}

#[test]
fn adamw_update_leaves_a_shared_parameter_untouched() {
    let device = backend::open().expect("the chosen backend opens");
    let n = 70_001;
    let (p, g) = (random(n, 1, 0.05), random(n, 2, 0.01));
    let param = tensor(&p, &device);
    let kept = param.clone();
    let step = AdamWStep {
        decay: Some(0.99),
        beta1: 0.9,
        beta2: 0.999,
        bias2_sqrt: 0.001f64.sqrt(),
        epsilon: 1e-6,
        step_size: 1e-3,
    };
    let [updated, _, _] =
        <Backend as SesameBackend>::adamw_update(param, tensor(&g, &device), None, None, step);
    Backend::sync(&device).expect("the device synchronises");
    assert_eq!(bits(&values(kept)), bits(&p), "the shared buffer");
    assert_ne!(bits(&values(updated)), bits(&p), "the update");
}

#[test]
fn sum_of_squares_is_the_f64_sum_and_does_not_depend_on_the_threads() {
    let device = backend::open().expect("the chosen backend opens");
    // Below one block, and across blocks with a ragged end (the embedding gradients are tens of millions).
    // A GPU backend checks the two small sizes only: Mesa's lavapipe, CI's software GPU, ends every shader loop
    // after 65 535 iterations, and a sum of the 327 683 values below walks one loop past that there
    // (docs/performance.md, "Long loops").
    let sizes = [(1, 1usize), (2, 17), (3, 5 * 65_536 + 3)];
    let sizes = if backend::ON_HOST {
        &sizes[..]
    } else {
        &sizes[..2]
    };
    for &(seed, n) in sizes {
        let x = random(n, seed, 0.3);
        let exact: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let sum = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            pool.install(|| {
                values(<Backend as SesameBackend>::sum_of_squares(tensor(
                    &x, &device,
                )))
            })
        };
        let one = sum(1);
        assert_eq!(one.len(), 1, "one value");
        let got = f64::from(one[0]);
        assert!(
            (got - exact).abs() <= 1e-6 * exact,
            "n = {n}: {got} vs the f64 sum {exact}"
        );
        if backend::ON_HOST {
            for threads in [2, 3, 8] {
                assert_eq!(
                    bits(&sum(threads)),
                    bits(&one),
                    "n = {n}, {threads} threads"
                );
            }
        }
    }
}
