//! What a GPU runtime spent on kernels in this process: kernels compiled, kernels loaded from the persistent
//! kernel cache instead, and autotune runs (each one times several candidate kernels of one tuning key).
//!
//! burn's GPU runtimes (cubecl) announce these events only through the `log` crate. Whoever observes them — the
//! `sesame` facade's `runtime::count_kernels`, which the command line installs — calls [`observe`] once and
//! [`record`] per event; the learner reads [`counts`] into a run's report. On the CPU backends, or when nobody
//! observes, [`counts`] is `None`: a count of zero is then never claimed. [`cache_dir`] says where the runtime
//! keeps compiled kernels across processes, as the facade configured it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Kernel work counted so far (or between two readings, with [`KernelCounts::since`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCounts {
    /// Kernels compiled from source (to PTX or SPIR-V/WGSL), autotune candidates included.
    pub compiled: u64,
    /// Kernels loaded from the persistent kernel cache instead of compiled.
    pub cache_hits: u64,
    /// Autotune runs: tuning keys (an operation at a class of shapes) benchmarked because no cached result
    /// existed.
    pub autotune_runs: u64,
}

impl KernelCounts {
    /// The work done after `earlier` was read.
    pub fn since(self, earlier: KernelCounts) -> KernelCounts {
        KernelCounts {
            compiled: self.compiled.saturating_sub(earlier.compiled),
            cache_hits: self.cache_hits.saturating_sub(earlier.cache_hits),
            autotune_runs: self.autotune_runs.saturating_sub(earlier.autotune_runs),
        }
    }
}

/// One event of the GPU runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelEvent {
    Compiled,
    CacheHit,
    Autotuned,
}

static OBSERVED: AtomicBool = AtomicBool::new(false);
static COMPILED: AtomicU64 = AtomicU64::new(0);
static CACHE_HITS: AtomicU64 = AtomicU64::new(0);
static AUTOTUNED: AtomicU64 = AtomicU64::new(0);

/// Declares that the runtime's events are being observed, so that [`counts`] reports numbers.
pub fn observe() {
    OBSERVED.store(true, Ordering::Relaxed);
}

/// Counts one event.
pub fn record(event: KernelEvent) {
    let counter = match event {
        KernelEvent::Compiled => &COMPILED,
        KernelEvent::CacheHit => &CACHE_HITS,
        KernelEvent::Autotuned => &AUTOTUNED,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

static CACHE_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records where the runtime keeps compiled kernels across processes (`None`: nowhere). Only the first call
/// counts: the runtime is configured once per process.
pub fn set_cache_dir(dir: Option<PathBuf>) {
    let _ = CACHE_DIR.set(dir);
}

/// Where the runtime keeps compiled kernels across processes, when it does.
pub fn cache_dir() -> Option<PathBuf> {
    CACHE_DIR.get().cloned().flatten()
}

/// Everything counted in this process so far; `None` when nothing observes the runtime.
pub fn counts() -> Option<KernelCounts> {
    OBSERVED.load(Ordering::Relaxed).then(|| KernelCounts {
        compiled: COMPILED.load(Ordering::Relaxed),
        cache_hits: CACHE_HITS.load(Ordering::Relaxed),
        autotune_runs: AUTOTUNED.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_once_observed_and_differences_do_not_underflow() {
        record(KernelEvent::Compiled);
        assert_eq!(counts(), None, "nothing is claimed before someone observes");
        observe();
        let before = counts().expect("observed");
        record(KernelEvent::Compiled);
        record(KernelEvent::CacheHit);
        record(KernelEvent::Autotuned);
        record(KernelEvent::Autotuned);
        let after = counts().expect("observed");
        assert_eq!(
            after.since(before),
            KernelCounts {
                compiled: 1,
                cache_hits: 1,
                autotune_runs: 2
            }
        );
        assert_eq!(before.since(after), KernelCounts::default());
    }
}
