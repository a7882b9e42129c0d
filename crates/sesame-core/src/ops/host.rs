//! Reading tensors back from the device: the one place where a failed read becomes a typed error instead of
//! being swallowed.

use burn::tensor::{backend::Backend, Tensor};

use crate::error::{CoreError, Result};

/// Waits for the device to finish the work queued so far (the end of a timed interval).
pub fn sync<B: Backend>(device: &B::Device) -> Result<()> {
    B::sync(device)
        .map_err(|e| CoreError::DeviceRead(format!("device synchronisation failed: {e:?}")))
}

/// The values of `t` as row-major `f32` on the host (synchronises with the device).
pub fn to_host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| CoreError::DeviceRead(format!("{e:?}")))
}
