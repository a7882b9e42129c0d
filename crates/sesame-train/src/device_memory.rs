//! An accelerator that runs out of memory is a user error with a remedy, not a crash.
//!
//! burn's GPU backends report a failed device allocation by panicking (cubecl's `BufferTooBig`, "can't allocate
//! buffer of size …", or a launch's out-of-memory error) or, where cubecl keeps it as the server's error, as an
//! error of the next device read; usually inside the first training step of a batch shape that does not fit.
//! On wgpu the allocation panics on cubecl's server thread and the step's thread gets an invalid-state error at
//! its next read; a chained panic hook records such panics of any thread so the step can tell.
//! [`catch_device_oom`] runs a step and turns exactly those panics and errors into
//! [`TrainError::DeviceOutOfMemory`], naming the batch and suggesting gradient accumulation; any other panic
//! or error continues as it was. The host's own allocator aborts instead of panicking, which is why host memory is
//! checked before allocating (`sesame_core::memory`).

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Mutex, Once};

use crate::error::TrainError;

/// Phrases of the device allocators' out-of-memory panics: cubecl 0.10's pools and CUDA storage ("can't
/// allocate buffer of size"), its launch errors ("out-of-memory"), wgpu's `Error::OutOfMemory` ("Out of
/// Memory") and its validation of a buffer beyond the device's limit.
const OUT_OF_MEMORY: [&str; 5] = [
    "can't allocate buffer of size",
    "out-of-memory",
    "out of memory",
    "outofmemory",
    "greater than the maximum buffer size",
];

/// Whether a panic message is a device allocator's out-of-memory report.
pub fn is_out_of_memory(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    OUT_OF_MEMORY.iter().any(|phrase| message.contains(phrase))
}

/// The text of a panic payload (`panic!` with a literal or a formatted message).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// The last out-of-memory panic of any thread since it was taken: cubecl's wgpu runtime allocates on its server
/// thread, whose panic the step's thread sees only as an invalid server state at its next read.
static RECORDED: Mutex<Option<String>> = Mutex::new(None);

/// Chains a panic hook (once per process) that records out-of-memory panics of every thread, then hands each
/// panic to the hook that was there before.
fn record_out_of_memory_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(message) = panic_message(info.payload()).filter(|m| is_out_of_memory(m)) {
                if let Ok(mut slot) = RECORDED.lock() {
                    *slot = Some(message.to_string());
                }
            }
            previous(info)
        }));
    });
}

/// Takes the recorded out-of-memory panic, if any.
fn take_recorded() -> Option<String> {
    RECORDED.lock().ok().and_then(|mut slot| slot.take())
}

/// Runs `step` on a batch of `rows` × `len` tokens; a device out-of-memory panic inside it becomes an error.
/// On host backends (`on_host`) the step runs as it is: nothing there panics for memory.
pub fn catch_device_oom<T>(
    on_host: bool,
    rows: usize,
    len: usize,
    step: impl FnOnce() -> Result<T, TrainError>,
) -> Result<T, TrainError> {
    if on_host {
        return step();
    }
    record_out_of_memory_panics();
    take_recorded(); // one from before this step is not this step's
    let out_of_memory = |message: &str| TrainError::DeviceOutOfMemory {
        rows,
        len,
        reason: message.lines().next().unwrap_or_default().to_string(),
    };
    match catch_unwind(AssertUnwindSafe(step)) {
        // cubecl also keeps a failed allocation as the server's error and reports it at the next read.
        Ok(Err(e)) => match take_recorded() {
            Some(message) => Err(out_of_memory(&message)),
            None if is_out_of_memory(&e.to_string()) => Err(out_of_memory(&e.to_string())),
            None => Err(e),
        },
        Ok(result) => result,
        Err(payload) => match panic_message(payload.as_ref()) {
            Some(message) if is_out_of_memory(message) => Err(out_of_memory(message)),
            _ => resume_unwind(payload),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocator_panic_becomes_an_error_naming_the_batch() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {})); // the panics below are expected
        let err = catch_device_oom::<()>(false, 32, 128, || {
            panic!("can't allocate buffer of size: 17179869184\n  backtrace…")
        })
        .expect_err("an out-of-memory panic is an error");
        let other = std::panic::catch_unwind(|| {
            catch_device_oom::<()>(false, 32, 128, || panic!("index out of bounds"))
        });
        let on_host = std::panic::catch_unwind(|| {
            catch_device_oom::<()>(true, 32, 128, || panic!("can't allocate buffer of size: 1"))
        });
        std::panic::set_hook(hook);
        let message = err.to_string();
        assert!(
            message.contains("32 × 128") && message.contains("--gradient-accumulation"),
            "{message}"
        );
        assert!(message.contains("17179869184"), "{message}");
        assert!(other.is_err(), "another panic goes on as a panic");
        assert!(on_host.is_err(), "host backends are not guarded");
        assert!(catch_device_oom(false, 1, 1, || Ok(7)).is_ok_and(|v| v == 7));
        // The same report as an error of a device read.
        let read = catch_device_oom::<()>(false, 8, 64, || {
            Err(sesame_core::CoreError::DeviceRead(
                "device synchronisation failed: can't allocate buffer of size: 99".into(),
            )
            .into())
        });
        assert!(
            matches!(
                read,
                Err(TrainError::DeviceOutOfMemory {
                    rows: 8,
                    len: 64,
                    ..
                })
            ),
            "{read:?}"
        );
        let other = catch_device_oom::<()>(false, 8, 64, || {
            Err(sesame_core::CoreError::DeviceRead("the device was lost".into()).into())
        });
        assert!(matches!(other, Err(TrainError::Core(_))), "{other:?}");
    }
}
