//! The one place where a cargo feature picks the burn backend: its type and what it needs to run. Its name and
//! whether it computes on the host are facts of the backend type ([`SesameBackend::NAME`],
//! [`SesameBackend::ON_HOST`]); the defaults that follow from the latter (dropout masks, shape plan, padding)
//! are derived from it where they are used. Precedence: `cuda` > `wgpu` > `ndarray` > `flex` (the default), so enabling another backend's
//! feature on top of the defaults selects it.

pub use sesame_core::fused::Precision;
use sesame_core::SesameBackend;

#[cfg(feature = "cuda")]
mod chosen {
    pub type WithFloat<F> = burn::backend::Cuda<F, i32>;
    pub type Backend = WithFloat<f32>;
    pub const NEEDS: &str = "an NVIDIA GPU with its driver (libcuda.so) and the CUDA toolkit's NVRTC and headers \
                             (CUDA_PATH or /usr/local/cuda); build without --features cuda for the CPU";
}

#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
mod chosen {
    pub type WithFloat<F> = burn::backend::Wgpu<F, i32>;
    pub type Backend = WithFloat<f32>;
    pub const NEEDS: &str = "a GPU with a Vulkan, Metal or DirectX 12 driver (an installable Vulkan ICD); without \
                             a GPU, Mesa's lavapipe (Debian: mesa-vulkan-drivers) runs it on the CPU, with \
                             XDG_RUNTIME_DIR set";
}

#[cfg(all(feature = "ndarray", not(any(feature = "cuda", feature = "wgpu"))))]
mod chosen {
    pub type Backend = burn::backend::NdArray<f32>;
    pub const NEEDS: &str = "nothing beyond the CPU";
}

#[cfg(all(
    feature = "flex",
    not(any(feature = "cuda", feature = "wgpu", feature = "ndarray"))
))]
mod chosen {
    pub type Backend = burn::backend::Flex<f32, i32>;
    pub const NEEDS: &str = "nothing beyond the CPU";
}

#[cfg(not(any(
    feature = "cuda",
    feature = "wgpu",
    feature = "ndarray",
    feature = "flex"
)))]
compile_error!(
    "sesame needs one backend feature: `flex` (the default), `ndarray`, `wgpu` or `cuda`"
);

/// The inference backend chosen by the cargo features.
pub type Backend = chosen::Backend;
/// The same backend with automatic differentiation, for training.
pub type AutodiffBackend = burn::backend::Autodiff<Backend>;
/// The device type of [`Backend`].
pub type Device = burn::tensor::Device<Backend>;

/// Name of the chosen backend (`"cuda"`, `"wgpu"`, `"flex"` or `"ndarray"`), for logs and reports.
pub const NAME: &str = <Backend as SesameBackend>::NAME;

/// Whether the backend computes on the host CPU (its memory is the process's resident memory) rather than on a
/// device of its own.
pub const ON_HOST: bool = <Backend as SesameBackend>::ON_HOST;

/// The default length buckets of a run's shape plan (the command line's `--length-buckets`):
/// [`sesame_train::shapes::default_length_buckets`] for this backend.
pub const LENGTH_BUCKETS: usize = sesame_train::shapes::default_length_buckets(ON_HOST);

/// The default padding multiple of sequence lengths without a shape plan (`--length-buckets 0`; the command
/// line's `--pad-to-multiple-of`): [`sesame_train::shapes::default_pad_multiple`] for this backend.
pub const PAD_TO_MULTIPLE: usize = sesame_train::shapes::default_pad_multiple(ON_HOST);

/// The default device of the chosen backend (the first GPU, or the CPU). It does not check that the device
/// works: commands call [`open`] first.
pub fn device() -> Device {
    Device::default()
}

/// The chosen backend cannot run on this machine.
#[derive(Debug, thiserror::Error)]
#[error("the {backend} backend found no usable device: {reason}. It needs {needs}")]
pub struct BackendUnavailable {
    /// [`NAME`].
    pub backend: &'static str,
    /// What failed, in the words of the driver layer (first line).
    pub reason: String,
    /// What the backend needs, and the way out.
    pub needs: &'static str,
}

/// Opens the default device and runs one small computation on it, so that a GPU build on a machine without a
/// usable GPU (no driver, no `libcuda`, no Vulkan ICD) stops at once with [`BackendUnavailable`] instead of a
/// panic and a backtrace from deep inside the driver layer. Before the device starts, the GPU runtime's kernel
/// and autotune caches are set up ([`crate::runtime::configure`]). burn's GPU runtimes report a missing driver by
/// panicking (on the device's own thread, then on the caller's), so the panic is caught here and its first
/// message kept; the panic hook is silenced meanwhile. The hook is process-wide, so concurrent calls take turns:
/// two interleaved swaps could leave the silent hook installed for good.
pub fn open() -> Result<Device, BackendUnavailable> {
    use std::panic::{catch_unwind, set_hook, take_hook, AssertUnwindSafe};
    use std::sync::{Arc, Mutex};

    static OPENING: Mutex<()> = Mutex::new(());
    let _turn = OPENING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = device();
    let first_message: Arc<Mutex<Option<String>>> = Arc::default();
    let previous = take_hook();
    let keep = Arc::clone(&first_message);
    set_hook(Box::new(move |info| {
        let mut slot = keep.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".to_string());
            *slot = Some(message);
        }
    }));
    let probe = catch_unwind(AssertUnwindSafe(|| {
        crate::runtime::configure();
        let t = burn::tensor::Tensor::<Backend, 1>::from_floats([1.0, 2.0], &device);
        (t.clone() + t).into_data().to_vec::<f32>().ok()
    }));
    set_hook(previous);
    let message = first_message
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take();
    match probe {
        Ok(Some(values)) if values == [2.0, 4.0] => Ok(device),
        Ok(values) => Err(BackendUnavailable {
            backend: NAME,
            reason: format!("a test addition on the device gave {values:?} instead of [2.0, 4.0]"),
            needs: chosen::NEEDS,
        }),
        Err(_) => Err(BackendUnavailable {
            backend: NAME,
            reason: first_line(&message.unwrap_or_else(|| "the device failed to start".into())),
            needs: chosen::NEEDS,
        }),
    }
}

/// The first sentence of a driver-layer message, without the long lists some of them append (cudarc lists
/// every library name it tried).
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message);
    let line = line.split(" - searched").next().unwrap_or(line);
    let mut short: String = line.chars().take(300).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short.trim_end_matches('.').to_string()
}

/// The precisions the chosen backend computes in on `device` (f32 only on the CPU backends; TF32 on CUDA only;
/// bf16 and f16 where the device has the types).
pub fn precisions(device: &Device) -> Vec<Precision> {
    sesame_core::fused::precisions::<Backend>(device)
}

/// Sets the process's precision of matrix products ([`sesame_core::fused::precision`]) after checking that the
/// chosen backend computes it on `device`; the error lists the precisions it computes in.
pub fn set_precision(precision: Precision, device: &Device) -> Result<(), sesame_core::CoreError> {
    sesame_core::fused::use_precision::<Backend>(precision, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_backend_opens() {
        let device = open().expect("the CPU backend needs no driver");
        assert_eq!(format!("{device:?}"), format!("{:?}", super::device()));
    }

    #[test]
    fn driver_messages_keep_their_first_sentence() {
        let cudarc = "Unable to dynamically load the \"cuda\" shared library - searched for library names: \
                      [\"libcuda.so\", \"libcuda64.so\"]. Ensure that `LD_LIBRARY_PATH` has the correct path.";
        assert_eq!(
            first_line(cudarc),
            "Unable to dynamically load the \"cuda\" shared library"
        );
        assert_eq!(first_line("No adapter found.\nmore"), "No adapter found");
        let long = "x".repeat(400);
        assert_eq!(first_line(&long).chars().count(), 301);
    }
}
