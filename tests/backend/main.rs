//! The backend the cargo features choose (`sesame::backend`), end to end, in one test binary (each binary links
//! and monomorphizes the whole training stack again: on a GPU build, minutes per binary). CI runs it in the
//! default build (burn's flex CPU backend) and with `--features wgpu` on a software Vulkan driver. The method
//! components' gradients against an f64 reference are a binary of their own (`tests/gpu_gradients.rs`).
//!
//! The tests run as threads of this one process: those that seed or draw from a backend's random stream hold
//! [`sesame_testkit::random_streams`] while they do.

mod device_memory;
mod fused_ops;
mod gpu_cache;
mod gpu_path;
mod optimizer_update;
