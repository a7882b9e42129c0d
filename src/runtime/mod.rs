//! The GPU runtime's start-up: where compiled kernels and autotune results are kept between processes, and how
//! many kernels a process compiled.
//!
//! burn's GPU backends run on cubecl, which compiles every kernel the first time a process launches it (NVRTC to
//! PTX on CUDA, SPIR-V or WGSL on wgpu) and autotunes matrix products and reductions per class of shapes. Both
//! cost about a minute at the start of a MiniLM fine-tune (docs/performance.md, "On a GPU"). cubecl can keep both
//! results on disk, but by default it caches no compiled kernel and writes autotune results into the `target/`
//! folder next to whatever `Cargo.toml` lies above the working directory. [`configure`] (called by
//! [`crate::backend::open`], so by every command and example) points both at one per-user folder instead:
//!
//! - `$SESAME_CACHE_DIR`, else the platform cache folder + `sesame` (`~/.cache/sesame` on Linux,
//!   `~/Library/Caches/sesame` on macOS, `%LOCALAPPDATA%\sesame` on Windows);
//! - inside it one folder per kind of device (`wgpu`, or `cuda-sm90` for a compute capability 9.0 GPU: cubecl's
//!   PTX is compiled for one architecture and its cache keys do not say which, so GPUs of different generations
//!   sharing a home folder must not share it), holding cubecl's own layout
//!   (`autotune/<cubecl version>/…`, `cuda/<cubecl version>/ptx.json.log`, `vulkan/<cubecl version>/spirv.json.log`).
//!
//! A user's own cubecl settings win: with a `cubecl.toml`, `CubeCL.toml` or a `[cubecl]` section of
//! `burn.toml` in the working directory or above it, sesame changes nothing, and cubecl's environment variables
//! (`CUBECL_AUTOTUNE_LEVEL`, `CUBECL_DEBUG_LOG`, …) apply on top of sesame's settings as on top of a file's. A
//! cache folder that cannot be written is a warning, never an error: kernels are then compiled in every process,
//! as without a cache.
//!
//! On wgpu only SPIR-V kernels can be cached (cubecl keeps no WGSL cache), so the `wgpu` feature brings burn's
//! `vulkan` compiler: on a Vulkan driver kernels are compiled to SPIR-V, elsewhere (Metal, DirectX 12) to WGSL,
//! uncached.
//!
//! cubecl announces compilations, cache loads and autotune runs only through the `log` crate. [`count_kernels`]
//! installs a logger that counts them into [`sesame_core::kernels`] (and prints cubecl's warnings and errors on
//! stderr); the command line and the examples install it, a library user may. A run's `report.json` then says
//! what its start-up cost.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod kernel_log;

/// The environment variable that chooses the cache folder.
pub const CACHE_DIR_VAR: &str = "SESAME_CACHE_DIR";

/// How this process's GPU runtime keeps kernels and autotune results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeSetup {
    /// The folder of this device kind's caches; `None` when nothing is cached across processes by sesame's
    /// settings (a CPU backend, a user's own cubecl file, an unwritable folder).
    pub cache_dir: Option<PathBuf>,
    /// The user's cubecl settings file in force instead of sesame's.
    pub user_config: Option<PathBuf>,
    /// Why the cache is off, when it is (for a warning).
    pub warning: Option<String>,
}

/// The per-user cache folder: `$SESAME_CACHE_DIR`, else the platform cache folder + `sesame`.
pub fn cache_root() -> Option<PathBuf> {
    match std::env::var_os(CACHE_DIR_VAR) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|dir| dir.join("sesame")),
    }
}

/// Configures cubecl's caches once per process, before the first device is used, and returns what was set up.
/// On the CPU backends it does nothing.
pub fn configure() -> &'static RuntimeSetup {
    static SETUP: OnceLock<RuntimeSetup> = OnceLock::new();
    SETUP.get_or_init(|| {
        #[cfg(any(feature = "cuda", feature = "wgpu"))]
        {
            let setup = gpu::configure_cubecl();
            sesame_core::kernels::set_cache_dir(setup.cache_dir.clone());
            setup
        }
        #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
        RuntimeSetup::default()
    })
}

/// Counts the GPU runtime's kernel compilations, cache loads and autotune runs into [`sesame_core::kernels`]
/// from now on, by installing a `log` logger (which also prints cubecl's warnings and errors on stderr). `false`
/// when the process already has a logger (the counts then stay unknown) or the backend is a CPU one.
pub fn count_kernels() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        #[cfg(any(feature = "cuda", feature = "wgpu"))]
        {
            kernel_log::install()
        }
        #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
        false
    })
}

/// A user's cubecl settings file, searched as cubecl searches it: `cubecl.toml`, `CubeCL.toml`, or a
/// `burn.toml`/`Burn.toml` with a `[cubecl]` section, in `start` or a folder above it.
pub fn user_cubecl_file(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        for name in ["cubecl.toml", "CubeCL.toml"] {
            let file = d.join(name);
            if file.is_file() {
                return Some(file);
            }
        }
        for name in ["burn.toml", "Burn.toml"] {
            let file = d.join(name);
            let has_section = std::fs::read_to_string(&file).is_ok_and(|text| {
                text.lines().any(|l| {
                    l.trim_start().starts_with("[cubecl]") || l.trim_start().starts_with("[cubecl.")
                })
            });
            if has_section {
                return Some(file);
            }
        }
        dir = d.parent();
    }
    None
}

/// Creates `dir` and checks that a file can be written in it.
#[cfg_attr(not(any(feature = "cuda", feature = "wgpu")), allow(dead_code))]
fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".sesame-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
mod gpu {
    use std::path::PathBuf;

    use burn::cubecl::config::cache::CacheConfig;
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

    use super::{cache_root, user_cubecl_file, writable, RuntimeSetup};

    pub(super) fn configure_cubecl() -> RuntimeSetup {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        if let Some(file) = user_cubecl_file(&cwd) {
            let config = CubeClRuntimeConfig::get();
            return RuntimeSetup {
                cache_dir: config.compilation.cache.as_ref().map(CacheConfig::root),
                user_config: Some(file),
                warning: None,
            };
        }
        if CubeClRuntimeConfig::storage().lock().is_some() {
            // A device was used (or cubecl configured) before: the settings in force stay.
            return RuntimeSetup {
                warning: Some(
                    "the GPU runtime was started before sesame could set up its kernel cache"
                        .into(),
                ),
                ..RuntimeSetup::default()
            };
        }
        let Some(root) = cache_root() else {
            return RuntimeSetup {
                warning: Some(format!(
                    "no cache folder (no platform cache folder and {} unset)",
                    super::CACHE_DIR_VAR
                )),
                ..RuntimeSetup::default()
            };
        };
        let dir = root.join(device_kind());
        if let Err(err) = writable(&dir) {
            return RuntimeSetup {
                warning: Some(format!(
                    "the kernel cache {} is not writable: {err}",
                    dir.display()
                )),
                ..RuntimeSetup::default()
            };
        }
        let mut config = CubeClRuntimeConfig::default();
        config.autotune.cache = CacheConfig::File(dir.clone());
        config.compilation.cache = Some(CacheConfig::File(dir.clone()));
        let config = config.override_from_env();
        let mut slot = CubeClRuntimeConfig::storage().lock();
        if slot.is_none() {
            *slot = Some(std::sync::Arc::new(config));
        }
        RuntimeSetup {
            cache_dir: Some(dir),
            user_config: None,
            warning: None,
        }
    }

    /// The folder name of this kind of device in the cache.
    #[cfg(feature = "cuda")]
    fn device_kind() -> String {
        // cubecl compiles PTX for the GPU's architecture (`--gpu-architecture=sm_XY`) and keys its cache by the
        // kernel alone, so the architecture names the folder. The default device is the first visible GPU.
        // SAFETY: plain CUDA driver queries on a device handle the driver returned.
        let arch = unsafe {
            use cudarc::driver::result::device;
            use cudarc::driver::sys::CUdevice_attribute as attribute;
            cudarc::driver::result::init().ok().and_then(|()| {
                let dev = device::get(0).ok()?;
                let major = device::get_attribute(
                    dev,
                    attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                )
                .ok()?;
                let minor = device::get_attribute(
                    dev,
                    attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                )
                .ok()?;
                Some(format!("cuda-sm{major}{minor}"))
            })
        };
        arch.unwrap_or_else(|| "cuda".into())
    }

    /// The folder name of this kind of device in the cache (wgpu keys its SPIR-V cache by the device's
    /// properties already).
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    fn device_kind() -> String {
        "wgpu".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_cubecl_file_is_found_above_the_working_directory() {
        let root = std::env::temp_dir().join(format!("sesame-cubecl-file-{}", std::process::id()));
        let deep = root.join("a/b");
        std::fs::create_dir_all(&deep).expect("temp dirs");
        assert_eq!(
            user_cubecl_file(&deep).filter(|f| f.starts_with(&root)),
            None
        );
        std::fs::write(root.join("a/burn.toml"), "[train]\nx = 1\n").expect("write");
        assert_eq!(
            user_cubecl_file(&deep).filter(|f| f.starts_with(&root)),
            None,
            "no [cubecl] section"
        );
        std::fs::write(
            root.join("a/burn.toml"),
            "[cubecl.autotune]\nlevel = \"minimal\"\n",
        )
        .expect("write");
        assert_eq!(user_cubecl_file(&deep), Some(root.join("a/burn.toml")));
        std::fs::write(root.join("a/b/cubecl.toml"), "").expect("write");
        assert_eq!(user_cubecl_file(&deep), Some(root.join("a/b/cubecl.toml")));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn an_unwritable_cache_folder_is_reported() {
        let file = std::env::temp_dir().join(format!("sesame-not-a-dir-{}", std::process::id()));
        std::fs::write(&file, b"").expect("write");
        assert!(writable(&file.join("cache")).is_err());
        std::fs::remove_file(&file).ok();
    }
}
