//! sesame-train's tests, one module per subject, in one test binary (each binary links and monomorphizes the
//! learner and burn's backends again; one binary builds in a fraction of the time of six).
//!
//! The tests run as threads of this one process: those that seed or draw from a backend's random stream (every
//! model built with random weights) hold [`sesame_testkit::random_streams`] while they do.

mod export;
mod family;
mod learner;
mod non_finite;
mod readers;
mod recipe_options;
mod resume;
