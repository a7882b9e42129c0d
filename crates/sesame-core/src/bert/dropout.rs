//! Dropout whose random mask is cheap on CPU backends and reproducible from one seed.
//!
//! burn's `nn::Dropout` draws its mask through the backend's generic random path; on the CPU backends that
//! made attention-probability dropout cost more than the rest of the forward pass (measured in
//! docs/performance.md). On CPU backends sesame draws the mask on the host with SplitMix64 (one 64-bit draw
//! per four elements); on GPU backends it keeps burn's device-side random, so no mask crosses the bus.

use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::tensor::{backend::Backend, Distribution, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fused::SesameBackend;
use crate::rng::SplitMix64;

/// Where dropout masks are drawn. Which one suits a backend follows from [`SesameBackend::ON_HOST`]
/// ([`MaskSource::suited_to`]); a model starts with its backend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaskSource {
    /// burn's device-side random (`random_like`): right for GPU backends, where no mask should cross the bus,
    /// and correct on every backend.
    Device,
    /// SplitMix64 on the host, one 64-bit draw per four elements: much cheaper than burn's generic random path
    /// on the CPU backends.
    Host,
}

impl MaskSource {
    /// The source that suits backend `B`: the host on the CPU backends, the device on the others.
    pub const fn suited_to<B: SesameBackend>() -> Self {
        if B::ON_HOST {
            MaskSource::Host
        } else {
            MaskSource::Device
        }
    }
}

/// The dropout random stream of one model, shared by all of its dropout layers (clones share it). The learner
/// seeds it before every micro-batch, so a run resumed at any step draws the same masks as an uninterrupted one.
#[derive(Debug, Clone)]
pub struct DropoutStream {
    inner: Arc<Mutex<StreamState>>,
}

#[derive(Debug)]
struct StreamState {
    /// SplitMix64 state of the host-side masks.
    state: u64,
    masks: MaskSource,
}

impl DropoutStream {
    /// A stream drawing its masks where `masks` says (a model's: [`MaskSource::suited_to`] its backend).
    pub fn new(masks: MaskSource) -> Self {
        DropoutStream {
            inner: Arc::new(Mutex::new(StreamState {
                state: 0x5E5A_3E5E_5A3E_0001,
                masks,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StreamState> {
        // A panic while drawing a mask leaves a valid state behind; keep using it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seeds the host-side masks (the device stream is seeded with the backend, `B::seed`).
    pub fn seed(&self, seed: u64) {
        self.lock().state = seed ^ 0xD1B5_4A32_D192_ED03;
    }

    /// Chooses where masks are drawn from now on.
    pub fn set_masks(&self, masks: MaskSource) {
        self.lock().masks = masks;
    }

    pub fn masks(&self) -> MaskSource {
        self.lock().masks
    }

    /// `n` mask values on the host: `scale` with probability `keep`, else 0.
    ///
    /// Draw `j` of the stream is `mix(state₀ + (j + 1) γ)` (SplitMix64 is counter-based), so blocks of the mask
    /// are filled in parallel and the stream advances by the number of draws, with the same values as drawing
    /// them one after another.
    fn host_mask(&self, n: usize, keep: f64) -> Vec<f32> {
        let threshold = (keep * 65536.0).round() as u32;
        let scale = (1.0 / keep) as f32;
        let draws = n.div_ceil(VALUES_PER_DRAW) as u64;
        let start = {
            let mut stream = self.lock();
            let start = stream.state;
            stream.state = start.wrapping_add(draws.wrapping_mul(SplitMix64::GAMMA));
            start
        };
        let mut values = vec![0.0f32; n];
        const DRAWS_PER_TASK: usize = 4096;
        values
            .par_chunks_mut(DRAWS_PER_TASK * VALUES_PER_DRAW)
            .enumerate()
            .for_each(|(task, block)| {
                let first_draw = (task * DRAWS_PER_TASK) as u64;
                for (j, quad) in block.chunks_mut(VALUES_PER_DRAW).enumerate() {
                    let counter = start
                        .wrapping_add((first_draw + j as u64 + 1).wrapping_mul(SplitMix64::GAMMA));
                    let bits = SplitMix64::mix(counter);
                    for (k, value) in quad.iter_mut().enumerate() {
                        let r = ((bits >> (16 * k)) & 0xFFFF) as u32;
                        *value = if r < threshold { scale } else { 0.0 };
                    }
                }
            });
        values
    }
}

/// Mask values per 64-bit draw (16 bits each).
const VALUES_PER_DRAW: usize = 4;

/// Inverted dropout with probability `prob`, active only on autodiff backends (training).
#[derive(Module, Clone, Debug)]
pub struct Dropout {
    pub prob: f64,
    /// The model's stream (not a parameter).
    pub stream: DropoutStream,
}

impl Dropout {
    pub fn new(prob: f64, stream: &DropoutStream) -> Self {
        Dropout {
            prob,
            stream: stream.clone(),
        }
    }

    pub fn forward<B: Backend, const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        let device = input.device();
        if !B::ad_enabled(&device) || self.prob <= 0.0 {
            return input;
        }
        let keep = 1.0 - self.prob;
        if self.stream.masks() == MaskSource::Device {
            let mask = input.random_like(Distribution::Bernoulli(keep));
            return input * mask * (1.0 / keep);
        }
        let shape = input.shape();
        let values = self.stream.host_mask(shape.num_elements(), keep);
        let mask = Tensor::<B, D>::from_data(TensorData::new(values, shape), &device);
        input * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream drawn one 64-bit value after another, as its definition reads.
    fn sequential_mask(state: &mut u64, n: usize, keep: f64) -> Vec<f32> {
        let threshold = (keep * 65536.0).round() as u32;
        let scale = (1.0 / keep) as f32;
        let mut values = Vec::with_capacity(n);
        while values.len() < n {
            *state = state.wrapping_add(SplitMix64::GAMMA);
            let bits = SplitMix64::mix(*state);
            for k in 0..VALUES_PER_DRAW {
                if values.len() == n {
                    break;
                }
                let r = ((bits >> (16 * k)) & 0xFFFF) as u32;
                values.push(if r < threshold { scale } else { 0.0 });
            }
        }
        values
    }

    #[test]
    fn parallel_masks_equal_the_sequential_stream_across_calls() {
        let stream = DropoutStream::new(MaskSource::Host);
        stream.seed(42);
        let mut state = 42 ^ 0xD1B5_4A32_D192_ED03;
        // Odd lengths leave part of a draw unused; sizes beyond one parallel block cross task boundaries.
        for n in [1, 3, 5, 16_387, 70_001, 4] {
            let got = stream.host_mask(n, 0.9);
            let want = sequential_mask(&mut state, n, 0.9);
            assert_eq!(got, want, "mask of {n} values");
        }
        let kept = stream.host_mask(100_000, 0.9);
        let fraction = kept.iter().filter(|&&v| v > 0.0).count() as f64 / 1e5;
        assert!((fraction - 0.9).abs() < 0.005, "kept {fraction}");
        assert!(kept.iter().all(|&v| v == 0.0 || v == (1.0 / 0.9) as f32));
    }
}
