//! sesame-core's checks in f64 on burn-ndarray: the golden values of methods.md and the gradient checks
//! against finite differences. A test binary apart from the f32 tests (`tests/core/`): burn 0.21 keeps a
//! device's float type per device *type*, set by the first backend that uses it, and `NdArray<f32>` and
//! `NdArray<f64>` share one device, so in a process that touched the f32 backend first, f64 tensors would be
//! f32 (docs/architecture.md).

mod aggregation;
mod gradients;
mod methods;
