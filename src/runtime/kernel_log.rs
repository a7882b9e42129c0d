//! Counting the GPU runtime's kernel work from cubecl's `log` records (see [`super::count_kernels`]).

use std::fmt::Write as _;

use sesame_core::kernels::{self, KernelEvent};

pub(super) fn install() -> bool {
    static COUNTER: KernelEventLog = KernelEventLog;
    if log::set_logger(&COUNTER).is_err() {
        return false;
    }
    // cubecl announces compilations at `trace`/`debug`: the counter sees every record and drops all but
    // cubecl's at the first comparison.
    log::set_max_level(log::LevelFilter::Trace);
    kernels::observe();
    true
}

/// Counts cubecl's kernel events; prints its warnings and errors.
struct KernelEventLog;

impl log::Log for KernelEventLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("cubecl")
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if record.level() <= log::Level::Warn {
            eprintln!(
                "{}: {}",
                record.level().as_str().to_lowercase(),
                record.args()
            );
            return;
        }
        if let Some(event) = kernel_event(record) {
            kernels::record(event);
        }
    }

    fn flush(&self) {}
}

/// What a cubecl record announces, from the first words of its message (cubecl 0.10's wording:
/// `cubecl-cuda` "Compiling kernel" / "Using PTX cache", `cubecl-wgpu` "Compiling <name>" (SPIR-V) or
/// "[cubecl-wgpu] compiling WGSL module …" / "Using SPIR-V cache", `cubecl-runtime` "Tuning <key>").
fn kernel_event(record: &log::Record) -> Option<KernelEvent> {
    let mut head = Head::default();
    // The WGSL message carries the whole shader source: formatting stops after the first words.
    let _ = write!(head, "{}", record.args());
    let text = head.as_str();
    if text.starts_with("Compiling ") || text.starts_with("[cubecl-wgpu] compiling") {
        Some(KernelEvent::Compiled)
    } else if text.starts_with("Using ") && text.ends_with(" cache") {
        Some(KernelEvent::CacheHit)
    } else if text.starts_with("Tuning ") {
        Some(KernelEvent::Autotuned)
    } else {
        None
    }
}

/// The first bytes of a formatted message; writing more fails, which ends the formatting early.
struct Head {
    bytes: [u8; 48],
    len: usize,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            bytes: [0; 48],
            len: 0,
        }
    }
}

impl Head {
    fn as_str(&self) -> &str {
        let bytes = &self.bytes[..self.len];
        match std::str::from_utf8(bytes) {
            Ok(text) => text,
            // Cut inside a character: keep the valid prefix.
            Err(err) => std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl std::fmt::Write for Head {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = self.bytes.len() - self.len;
        let take = s.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            Err(std::fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(target: &str, level: log::Level, args: std::fmt::Arguments) -> Option<KernelEvent> {
        kernel_event(
            &log::Record::builder()
                .target(target)
                .level(level)
                .args(args)
                .build(),
        )
    }

    #[test]
    fn cubecl_messages_are_told_apart() {
        let long_source = "x".repeat(10_000);
        let t = log::Level::Trace;
        assert_eq!(
            event(
                "cubecl_cuda::compute::context",
                t,
                format_args!("Compiling kernel")
            ),
            Some(KernelEvent::Compiled)
        );
        assert_eq!(
            event(
                "cubecl_wgpu::backend::base",
                t,
                format_args!("[cubecl-wgpu] compiling WGSL module `main`\n{long_source}")
            ),
            Some(KernelEvent::Compiled)
        );
        assert_eq!(
            event(
                "cubecl_wgpu::backend::vulkan",
                log::Level::Debug,
                format_args!("Compiling {}", "burn_cubecl::kernel::Matmul")
            ),
            Some(KernelEvent::Compiled)
        );
        for hit in [
            "Using PTX cache",
            "Using SPIR-V cache",
            "Using compilation cache",
        ] {
            assert_eq!(
                event("cubecl_x", t, format_args!("{hit}")),
                Some(KernelEvent::CacheHit)
            );
        }
        assert_eq!(
            event(
                "cubecl_runtime::tune::tuner",
                log::Level::Info,
                format_args!("Tuning {}", "key")
            ),
            Some(KernelEvent::Autotuned)
        );
        assert_eq!(
            event(
                "cubecl_wgpu::runtime",
                log::Level::Info,
                format_args!("Using adapter {:?}", "llvmpipe")
            ),
            None
        );
    }
}
