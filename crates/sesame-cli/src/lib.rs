//! # sesame-cli
//!
//! The `sesame` command line and the tools it is made of: the recipe and variant flags ([`options`]),
//! progress bars ([`progress`]), feature extraction ([`encode`]), evaluation and prediction of exported models
//! ([`predict`], [`hans_eval`]), experiment grids and their Markdown/SVG reports ([`report`]), and the
//! training-step benchmark ([`bench`]). The library `sesame` does not depend on any of it.

pub mod bench;
pub mod device;
pub mod encode;
pub mod error;
pub mod hans_eval;
pub mod hub;
pub mod options;
pub mod predict;
pub mod progress;
pub mod report;

pub use device::device;
pub use error::SesameError;
