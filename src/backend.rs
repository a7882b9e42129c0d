//! The one place where a cargo feature picks the burn backend. Precedence: `cuda` > `wgpu` > `flex` > `ndarray`
//! (the default), so enabling a GPU feature on top of the defaults selects the GPU.

#[cfg(feature = "cuda")]
mod chosen {
    pub type Backend = burn::backend::Cuda<f32, i32>;
    pub const NAME: &str = "cuda";
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
mod chosen {
    pub type Backend = burn::backend::Wgpu<f32, i32>;
    pub const NAME: &str = "wgpu";
}

#[cfg(all(feature = "flex", not(any(feature = "cuda", feature = "wgpu"))))]
mod chosen {
    pub type Backend = burn::backend::Flex<f32, i32>;
    pub const NAME: &str = "flex";
}

#[cfg(not(any(feature = "cuda", feature = "wgpu", feature = "flex")))]
mod chosen {
    pub type Backend = burn::backend::NdArray<f32>;
    pub const NAME: &str = "ndarray";
}

/// The inference backend chosen by the cargo features.
pub type Backend = chosen::Backend;
/// The same backend with automatic differentiation, for training.
pub type AutodiffBackend = burn::backend::Autodiff<Backend>;
/// The device type of [`Backend`].
pub type Device = burn::tensor::Device<Backend>;
/// The CPU reference backend the parity tests run on, whatever features are enabled.
pub type CpuBackend = burn::backend::NdArray<f32>;

/// Name of the chosen backend (`"cuda"`, `"wgpu"`, `"flex"` or `"ndarray"`), for logs and reports.
pub const NAME: &str = chosen::NAME;

/// The default device of the chosen backend (the first GPU, or the CPU).
pub fn device() -> Device {
    Device::default()
}
