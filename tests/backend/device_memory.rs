//! A device allocation the accelerator cannot hold ends a training step with an error, not a crash. lavapipe (CI's
//! software Vulkan) has no device memory limit to lower, so the allocation here asks for more than any device
//! holds (64 GiB in one buffer). On wgpu over lavapipe cubecl's server thread panics ("can't allocate buffer of
//! size: 68719476736") and the test's thread gets `The server is in an invalid state … Memory page 0 doesn't
//! exist` at its next read; the step turns that into `TrainError::DeviceOutOfMemory` naming the batch.
//!
//! The failed allocation leaves the process's device unusable (cubecl keeps the server's error), and the tests of
//! this binary share that device: the allocation runs in a child process of this test binary, which runs only
//! this test.
#![cfg(any(feature = "wgpu", feature = "cuda"))]

use burn::tensor::Tensor;
use sesame::backend::{self, Backend};
use sesame::core::SesameBackend;
use sesame::train::device_memory::catch_device_oom;
use sesame::train::TrainError;

/// Set in the child process that makes the allocation.
const CHILD: &str = "SESAME_DEVICE_OOM_CHILD";

#[test]
fn an_allocation_beyond_the_device_is_an_error_naming_the_batch() {
    if std::env::var_os(CHILD).is_some() {
        allocate_beyond_the_device();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            "device_memory::an_allocation_beyond_the_device_is_an_error_naming_the_batch",
            "--exact",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The allocation, in the child: the step's error must be the out-of-memory error naming the batch.
fn allocate_beyond_the_device() {
    let device = backend::open().expect("the chosen backend opens");
    let result = catch_device_oom(<Backend as SesameBackend>::ON_HOST, 4096, 8192, || {
        let huge = Tensor::<Backend, 1>::ones([1usize << 34], &device);
        sesame::core::ops::host::sync::<Backend>(&device)?;
        Ok(huge.dims()[0])
    });
    let err = result.expect_err("64 GiB in one buffer cannot be allocated");
    assert!(
        matches!(
            err,
            TrainError::DeviceOutOfMemory {
                rows: 4096,
                len: 8192,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("--gradient-accumulation"), "{err}");
}
