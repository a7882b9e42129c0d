//! sparsegen-lin (Laha et al. 2018), the attention normaliser of SSAF (methods.md §2.2).
//!
//! `ρ(e) = argmin_{p ∈ Δ} ‖p − e‖² − λ‖p‖²` equals `sparsemax(e / (1 − λ))`: a temperature-scaled sparsemax.
//! λ = 0 is sparsemax, λ → 1⁻ approaches argmax, λ → −∞ approaches the uniform distribution.

use burn::tensor::{backend::Backend, Int, Tensor};

/// sparsegen-lin along the last axis. `lambda` must be < 1.
///
/// The support and threshold are found on a detached copy (sort, cumulative sum); the threshold is then
/// recomputed from the unsorted input as `τ = (Σ_{j∈S} z_j − 1)/|S|`, so that autodiff yields exactly the
/// Jacobian `(diag(s) − s sᵀ/|S|)/(1 − λ)` of §2.2 without differentiating through the sort.
pub fn sparsegen_lin<B: Backend, const D: usize>(
    scores: Tensor<B, D>,
    lambda: f64,
) -> Tensor<B, D> {
    assert!(lambda < 1.0, "sparsegen-lin needs lambda < 1, got {lambda}");
    let last = D - 1;
    let n = scores.dims()[last];
    let device = scores.device();
    let z = scores / (1.0 - lambda);

    // Support size k(z) = max{k : 1 + k·z_(k) > Σ_{j≤k} z_(j)} on the sorted, detached values.
    let z_fixed = z.clone().detach();
    let sorted = z_fixed.clone().sort_descending(last);
    let cumulative = sorted.clone().cumsum(last);
    let mut k_shape = [1usize; D];
    k_shape[last] = n;
    let ks = Tensor::<B, 1, Int>::arange(1..n as i64 + 1, &device)
        .float()
        .reshape(k_shape);
    let in_support = (sorted * ks + 1.0).greater(cumulative.clone());
    let k_count = in_support.int().sum_dim(last); // [..., 1], ≥ 1
    let top_sum = cumulative.gather(last, k_count.clone() - 1);
    let tau_fixed = (top_sum - 1.0) / k_count.float();

    // Differentiable threshold over the support S = {j : z_j > τ}.
    let support = z_fixed.greater(tau_fixed).float();
    let tau = ((z.clone() * support.clone()).sum_dim(last) - 1.0) / support.sum_dim(last);
    (z - tau).clamp_min(0.0)
}

/// sparsemax, i.e. sparsegen-lin with λ = 0 (Martins & Astudillo 2016).
pub fn sparsemax<B: Backend, const D: usize>(scores: Tensor<B, D>) -> Tensor<B, D> {
    sparsegen_lin(scores, 0.0)
}
