//! sesame-core's tests in f32, one module per subject, in one test binary (each binary links and monomorphizes
//! the model and burn's backends again). The checks in f64 are a binary of their own (`tests/f64_checks/`).

mod checkpoint_errors;
mod deberta;
mod family;
mod fast_paths;
mod loading;
mod modernbert;
mod parity;
mod tokenizer;
