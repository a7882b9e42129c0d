//! glibc `malloc` settings for tensor workloads, applied by the `sesame` binary and the examples at start-up.
//!
//! A training step allocates and frees many large, short-lived buffers (activations and gradients of a few to a
//! few tens of MiB). With glibc's defaults, many of them are served by fresh `mmap`s or returned to the kernel by
//! heap trimming, so every step pays page faults and page clearing again. Keeping them in the heap (mmap threshold
//! at glibc's 32 MiB maximum, no trimming, 512 MiB top pad) made a MiniLM 32 × 128 training step on the CPU
//! backend about 20 % faster here (docs/performance.md). The settings change reuse, not results.
//!
//! Set `SESAME_MALLOC_DEFAULTS=1` to keep glibc's own settings (or your `MALLOC_*_` variables).

/// Applies the settings once; a no-op off glibc or when `SESAME_MALLOC_DEFAULTS` is set.
pub fn tune_allocator() {
    if std::env::var_os("SESAME_MALLOC_DEFAULTS").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is called before the program allocates tensors, and
    // glibc serialises it with its own locks.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 512 << 20);
    }
}
