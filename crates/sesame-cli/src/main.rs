//! The `sesame` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    sesame::alloc::tune_allocator();
    sesame::runtime::count_kernels();
    quiet_device_oom_panics();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// A device allocator's out-of-memory panic is caught by the training step and reported as an error with a
/// remedy; the panic hook then says only what the allocator reported, in one line, instead of a panic message
/// and a backtrace hint. Every other panic is reported as before.
fn quiet_device_oom_panics() {
    use sesame_train::device_memory::{is_out_of_memory, panic_message};
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match panic_message(info.payload()) {
        Some(message) if is_out_of_memory(message) => eprintln!(
            "note: the device allocator reported: {}",
            message.lines().next().unwrap_or_default()
        ),
        _ => default_hook(info),
    }));
}
