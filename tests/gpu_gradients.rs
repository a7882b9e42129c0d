//! The method components' gradients (`sesame_testkit::gradient_cases`: blur, SE gate, sparsegen-lin, MDG, PDG,
//! localness, sigmoid, GELU) on the backend the cargo features choose, in f32. sesame-core's tests check the same
//! functions against central finite differences in f64; here the chosen backend's value and gradient are
//! compared with that f64 reference at the same point (1e-5 relative for the value, 1e-4 of the largest
//! gradient element), and its gradient's projection on a fixed direction with a central difference of f32
//! values (step 1e-2, 5e-3 relative). CI runs this file with `--features wgpu` on lavapipe.
//!
//! A test binary of its own: burn 0.21 keeps a device's float type per device *type*, set by the first backend
//! that uses it, so the f64 reference on burn-ndarray cannot share a process with tests that train on
//! burn-ndarray in f32 (docs/architecture.md). In the default build (flex, a device type of its own) the f64
//! reference is real; with `--features ndarray` the chosen backend *is* burn-ndarray in f32 and claims the CPU
//! device first, the reference is then f32 too, which the test detects and says, and only the finite difference
//! checks anything there.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::DType;
use sesame::backend::{self, AutodiffBackend};
use sesame_testkit::gradient_cases::{component_cases, noise, tensor_on};

#[test]
fn method_component_gradients_on_the_chosen_backend() {
    type Reference = Autodiff<NdArray<f64>>;
    let device = backend::open().expect("the chosen backend opens");
    let reference_device = Default::default();
    // With `--features ndarray` the f32 backend under test has just claimed the CPU device (module doc).
    let reference_is_f64 =
        tensor_on::<Reference, 1>(vec![0.0], [1], &reference_device).dtype() == DType::F64;
    if !reference_is_f64 {
        eprintln!(
            "{}: the f64 reference shares this backend's device and its f32 type; comparing with finite \
             differences only",
            backend::NAME
        );
    }
    let cases = component_cases::<AutodiffBackend>(&device);
    let references = component_cases::<Reference>(&reference_device);
    assert_eq!(cases.len(), references.len());
    for (case, reference) in cases.iter().zip(&references) {
        assert_eq!(case.name, reference.name);
        let (value, gradient) = case.gradient(&device);
        let (want_value, want) = if reference_is_f64 {
            reference.gradient(&reference_device)
        } else {
            (value, gradient.clone())
        };
        let value_err = (value - want_value).abs() / want_value.abs().max(1.0);
        let largest = want.iter().fold(0f64, |m, g| m.max(g.abs()));
        assert!(
            largest > 1e-3,
            "{}: a (near) zero gradient proves nothing",
            case.name
        );
        let gradient_err = gradient
            .iter()
            .zip(&want)
            .fold(0f64, |m, (g, w)| m.max((g - w).abs()))
            / largest;
        // The gradient's projection on a fixed direction against a central difference of f32 values.
        let direction = noise(case.x0.len(), 99);
        let h = 1e-2;
        let step = |sign: f64| -> Vec<f64> {
            case.x0
                .iter()
                .zip(&direction)
                .map(|(x, d)| x + sign * h * d)
                .collect()
        };
        let numeric =
            (case.value(&step(1.0), &device) - case.value(&step(-1.0), &device)) / (2.0 * h);
        let projected: f64 = gradient.iter().zip(&direction).map(|(g, d)| g * d).sum();
        let directional_err = (numeric - projected).abs() / projected.abs().max(1.0);
        eprintln!(
            "{} {}: value {value_err:.1e}, gradient {gradient_err:.1e} (of max {largest:.2e}) vs f64; \
             directional difference {directional_err:.1e}",
            backend::NAME,
            case.name
        );
        assert!(
            value_err <= 1e-5,
            "{}: value {value} vs {want_value}",
            case.name
        );
        assert!(
            gradient_err <= 1e-4,
            "{}: gradient off the f64 reference by {gradient_err:.2e} of its largest element",
            case.name
        );
        assert!(
            directional_err <= 5e-3,
            "{}: directional difference {numeric} vs gradient projection {projected}",
            case.name
        );
    }
}
