//! The methods of SesameBERT and its neighbours, each in its own file, and the per-layer attention variant
//! that plugs them into self-attention's seams.

pub mod blur;
pub mod guiding;
pub mod localness;
pub mod se;
pub mod sparsegen;
pub mod variant;
