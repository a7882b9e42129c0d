//! The one place where a cargo feature picks the burn backend, and where every fact that depends on the backend
//! is stated. Precedence: `cuda` > `wgpu` > `flex` > `ndarray` (the default), so enabling a GPU feature on top
//! of the defaults selects the GPU.

use sesame_core::bert::dropout::MaskSource;

#[cfg(feature = "cuda")]
mod chosen {
    pub type Backend = burn::backend::Cuda<f32, i32>;
    pub const NAME: &str = "cuda";
    pub const DROPOUT_MASKS: super::MaskSource = super::MaskSource::Device;
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
mod chosen {
    pub type Backend = burn::backend::Wgpu<f32, i32>;
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
