//! The one place where a cargo feature picks the burn backend, and where every fact that depends on the backend
//! is stated. Precedence: `cuda` > `wgpu` > `flex` > `ndarray` (the default), so enabling a GPU feature on top
//! of the defaults selects the GPU.

use sesame_core::bert::dropout::MaskSource;

#[cfg(feature = "cuda")]
mod chosen {
    pub type WithFloat<F> = burn::backend::Cuda<F, i32>;
    pub type Backend = WithFloat<f32>;
    pub const NAME: &str = "cuda";
    pub const DROPOUT_MASKS: super::MaskSource = super::MaskSource::Device;
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
mod chosen {
    pub type WithFloat<F> = burn::backend::Wgpu<F, i32>;
    pub type Backend = WithFloat<f32>;
    pub const NAME: &str = "wgpu";
    pub const DROPOUT_MASKS: super::MaskSource = super::MaskSource::Device;
}

#[cfg(all(feature = "flex", not(any(feature = "cuda", feature = "wgpu"))))]
mod chosen {
    pub type Backend = burn::backend::Flex<f32, i32>;
    pub const NAME: &str = "flex";
    pub const DROPOUT_MASKS: super::MaskSource = super::MaskSource::Host;
}

#[cfg(not(any(feature = "cuda", feature = "wgpu", feature = "flex")))]
mod chosen {
    pub type Backend = burn::backend::NdArray<f32>;
    pub const NAME: &str = "ndarray";
    pub const DROPOUT_MASKS: super::MaskSource = super::MaskSource::Host;
}

/// The inference backend chosen by the cargo features.
pub type Backend = chosen::Backend;
/// The same backend with automatic differentiation, for training.
pub type AutodiffBackend = burn::backend::Autodiff<Backend>;
/// The device type of [`Backend`].
pub type Device = burn::tensor::Device<Backend>;

/// Name of the chosen backend (`"cuda"`, `"wgpu"`, `"flex"` or `"ndarray"`), for logs and reports.
pub const NAME: &str = chosen::NAME;

/// Where dropout masks are drawn on this backend: on the host for the CPU backends (burn's generic random path
/// made attention dropout cost more than the rest of the forward pass there, docs/performance.md), on the
/// device for the GPU backends (no mask crosses the bus).
pub const DROPOUT_MASKS: MaskSource = chosen::DROPOUT_MASKS;

/// The default device of the chosen backend (the first GPU, or the CPU).
pub fn device() -> Device {
    Device::default()
}

/// A computation generic over the training backend, for [`run_in_half_precision`].
pub trait OnAutodiffBackend {
    type Output;
    fn run<B: burn::tensor::backend::AutodiffBackend>(self, device: &B::Device) -> Self::Output;
}

/// Half-precision element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfPrecision {
    F16,
    Bf16,
}

/// Runs `job` on the chosen backend with f16 or bf16 elements. `None` on the CPU backends, which compute in f32
/// only (burn-ndarray and burn-flex have no half-precision float element).
pub fn run_in_half_precision<J: OnAutodiffBackend>(
    job: J,
    precision: HalfPrecision,
) -> Option<J::Output> {
    #[cfg(any(feature = "cuda", feature = "wgpu"))]
    {
        type Half<F> = burn::backend::Autodiff<chosen::WithFloat<F>>;
        let device = Default::default();
        Some(match precision {
            HalfPrecision::F16 => job.run::<Half<half::f16>>(&device),
            HalfPrecision::Bf16 => job.run::<Half<half::bf16>>(&device),
        })
    }
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    {
        let _ = (job, precision);
        None
    }
}
