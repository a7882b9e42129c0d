//! Element-wise `exp` and `erf` for f32 that the compiler vectorises, and the runtime dispatch that compiles a
//! kernel for AVX-512 and AVX2 beside the plain x86-64 baseline.
//!
//! libm's `expf`/`erff` are calls the compiler cannot vectorise, and they were ~6 % of a flex training step
//! (docs/performance.md). These are branch-free (selects, not jumps), so a loop over a slice becomes vector code.
//! No fused multiply-add is used (Rust does not contract `a * b + c`), so every dispatch path rounds alike and a
//! result does not depend on the CPU.

/// Compiles `fn $name(args) $body` three times — for AVX-512F, for AVX2 + FMA and for the build's baseline — and
/// picks the best one the running CPU has. The default target is plain x86-64 (SSE2), on which the vector
/// loops of these kernels would run four lanes wide and `floor` would be a library call.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked on the line above.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has AVX2 and FMA, checked above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Below this `exp` is flushed to 0 (`e^{−87.34}` is the smallest normal f32, 2^−126).
const EXP_LOWEST: f32 = -87.336_54;

/// `e^x` for `x ≤ 0` (the only range the kernels need: softmax after the row maximum is subtracted, the
/// Gaussian `e^{−x²/2}`), relative error ~1e-7: Cody–Waite reduction `x = n ln 2 + r`, `|r| ≤ ln2 / 2`, and
/// Cephes' degree-6 polynomial for `e^r`, scaled by `2^n` through the exponent bits. Results below 2^−126 are 0;
/// NaN stays NaN.
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = if x < EXP_LOWEST { EXP_LOWEST } else { x };
    let n = (clamped * LOG2_E + 0.5).floor();
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let e_r = p * (r * r) + r + 1.0;
    // n ∈ [−126, 0]: a normal power of two.
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < EXP_LOWEST {
        0.0
    } else {
        e_r * scale
    }
}

/// `erf(x)` by Abramowitz & Stegun 7.1.26, the approximation PyTorch's vectorised CPU `erf` uses for f32:
/// `1 − (a₁t + … + a₅t⁵) e^{−x²}`, `t = 1 / (1 + p|x|)`, odd in `x`. The formula is within 1.5e-7 of erf; in f32
/// arithmetic the result is within 5.1e-7 (measured over [−6, 6] by the test below).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_8;
    const A4: f32 = -1.453_152_1;
    const A5: f32 = 1.061_405_4;
    let a = x.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t;
    let y = 1.0 - poly * exp_nonpositive(-(a * a));
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// `1 / √2`.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / √(2π)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `½ x (1 + erf(x / √2))`.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    x * (erf(x * FRAC_1_SQRT_2) + 1.0) * 0.5
}

/// `d/dx [x Φ(x)] = Φ(x) + x φ(x)`.
#[inline(always)]
pub fn gelu_derivative(x: f32) -> f32 {
    let cdf = (erf(x * FRAC_1_SQRT_2) + 1.0) * 0.5;
    let pdf = exp_nonpositive(-0.5 * x * x) * FRAC_1_SQRT_2PI;
    cdf + x * pdf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_to_a_few_ulps() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let exact = (x as f64).exp();
            let rel = ((exp_nonpositive(x) as f64 - exact) / exact).abs();
            worst = worst.max(rel);
            x += 0.001_3;
        }
        assert!(worst < 3.0e-7, "worst relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-1.0e4), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn erf_within_the_stated_bound_and_odd() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x <= 6.0 {
            // erf(x) = 1 − erfc(x); libm's f64 erf as the reference.
            let exact = libm_erf(x as f64);
            worst = worst.max((erf(x) as f64 - exact).abs());
            assert_eq!(erf(-x), -erf(x));
            x += 0.000_7;
        }
        assert!(worst < 6.0e-7, "worst absolute error {worst:e}");
        assert!(erf(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_derivative_matches_a_central_difference() {
        for &x in &[-5.0f64, -2.5, -1.0, -0.3, 0.0, 0.2, 0.9, 1.7, 3.0, 6.0] {
            let h = 1e-3;
            let g = |x: f64| gelu(x as f32) as f64;
            let numeric = (g(x + h) - g(x - h)) / (2.0 * h);
            let analytic = gelu_derivative(x as f32) as f64;
            assert!(
                (numeric - analytic).abs() < 2e-3,
                "x = {x}: {analytic} vs {numeric}"
            );
        }
    }

    /// erf in f64 by its Maclaurin series (|x| ≤ 3) or the continued fraction of erfc (|x| > 3); accurate to
    /// ~1e-15, enough as a reference for an f32 approximation.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let value = if a <= 3.0 {
            let mut term = a;
            let mut sum = a;
            let mut k = 0.0;
            while term.abs() > 1e-17 * sum.abs().max(1e-300) {
                k += 1.0;
                term *= -a * a / k;
                sum += term / (2.0 * k + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = e^{−a²}/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + 2/(a + …))))).
            let mut fraction = a;
            for k in (1..60).rev() {
                fraction = a + (k as f64 / 2.0) / fraction;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / fraction
        };
        value.copysign(x)
    }
}
