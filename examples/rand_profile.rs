use burn::tensor::{Distribution, Tensor};
use sesame::backend::CpuBackend as B;
use std::time::Instant;
fn main() {
    let device = Default::default();
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = Tensor::<B, 4>::random([32, 12, 128, 128], Distribution::Bernoulli(0.9), &device);
        let t1 = Instant::now();
        let x = Tensor::<B, 4>::ones([32, 12, 128, 128], &device);
        let t2 = Instant::now();
        let y = (x * r) * (1.0 / 0.9);
        let _ = y.into_data();
        let t3 = Instant::now();
        eprintln!(
            "random {:.3}s ones {:.3}s mul+read {:.3}s",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64()
        );
    }
}
