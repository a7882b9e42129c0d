//! The device every command runs on: opened once, checked with [`sesame::backend::open`], and announced on
//! stderr (`backend flex · device Cpu`), so a log always says where its numbers came from and a GPU build
//! without a GPU stops with a clear error before any work.

use std::sync::OnceLock;

use sesame::backend::{self, Device};

use crate::SesameError;

/// The chosen backend's default device, opened and announced on the first call.
// The CPU devices are `Copy`, the GPU ones only `Clone`.
#[allow(clippy::clone_on_copy)]
pub fn device() -> Result<Device, SesameError> {
    static OPENED: OnceLock<Device> = OnceLock::new();
    if let Some(device) = OPENED.get() {
        return Ok(device.clone());
    }
    let device = backend::open()?;
    eprintln!("backend {} · device {device:?}", backend::NAME);
    if let Some(warning) = &sesame::runtime::configure().warning {
        eprintln!("warning: {warning}; GPU kernels are compiled anew in every process");
    }
    Ok(OPENED.get_or_init(|| device).clone())
}
