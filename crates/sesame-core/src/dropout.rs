//! Dropout whose random mask is cheap on CPU backends and reproducible from one seed.
//!
//! burn's `nn::Dropout` draws its mask through the backend's generic random path; on the CPU backends that
//! made attention-probability dropout cost more than the rest of the forward pass (measured in
//! docs/performance.md). On CPU backends sesame draws the mask on the host with SplitMix64 (one 64-bit draw
//! per four elements); on GPU backends it keeps burn's device-side random, so no mask crosses the bus.

use std::sync::Mutex;

use burn::module::Module;
use burn::tensor::{backend::Backend, Distribution, Tensor, TensorData};

/// State of the host-side mask generator (seeded by [`seed`]).
static HOST_RNG: Mutex<u64> = Mutex::new(0x5E5A_3E5E_5A3E_0001);

/// Seeds the host-side dropout masks (the learner calls it with the backend seed at every epoch start).
pub fn seed(seed: u64) {
    if let Ok(mut state) = HOST_RNG.lock() {
        *state = seed ^ 0xD1B5_4A32_D192_ED03;
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether masks for this backend are better drawn on the host (CPU backends).
fn host_masks<B: Backend>(device: &B::Device) -> bool {
    let name = B::name(device).to_lowercase();
    name.contains("ndarray") || name.contains("flex")
}

/// Inverted dropout with probability `prob`, active only on autodiff backends (training).
#[derive(Module, Clone, Debug)]
pub struct Dropout {
    pub prob: f64,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        Dropout { prob }
    }

    pub fn forward<B: Backend, const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        let device = input.device();
        if !B::ad_enabled(&device) || self.prob <= 0.0 {
            return input;
        }
        let keep = 1.0 - self.prob;
        if !host_masks::<B>(&device) {
            let mask = input.random_like(Distribution::Bernoulli(keep));
            return input * mask * (1.0 / keep);
        }
        let shape = input.shape();
        let n = shape.num_elements();
        let threshold = (keep * 65536.0).round() as u32;
        let scale = (1.0 / keep) as f32;
        let mut values = Vec::with_capacity(n);
        {
            let mut state = HOST_RNG
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            while values.len() < n {
                let bits = splitmix(&mut state);
                for k in 0..4 {
                    if values.len() == n {
                        break;
                    }
                    let r = ((bits >> (16 * k)) & 0xFFFF) as u32;
                    values.push(if r < threshold { scale } else { 0.0 });
                }
            }
        }
        let mask = Tensor::<B, D>::from_data(TensorData::new(values, shape), &device);
        input * mask
    }
}
