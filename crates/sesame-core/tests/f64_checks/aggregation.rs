//! Layer aggregation: each choice of the SE paper's Table 3 picks or mixes the layers it documents, with and
//! without the SE gate, at the initial and at trained parameter values.

use burn::tensor::Tensor;
use sesame_core::methods::se::{projected_squeeze, squeeze, LayerAggregator};
use sesame_core::{Aggregation, LayerAggregationConfig, SeConfig, SqueezeMode};

use crate::methods::{assert_close, dev, mask, tensor, values, B};

#[test]
fn aggregations_pick_the_documented_layers() {
    let layers: Vec<Tensor<B, 3>> = (1..=6)
        .map(|l| Tensor::ones([1, 1, 1], &dev()) * l as f64)
        .collect();
    let m = mask(vec![vec![1]]);
    for (aggregation, want) in [
        (Aggregation::First, 1.0),
        (Aggregation::Second, 2.0),
        (Aggregation::SecondToLast, 5.0),
        (Aggregation::Last, 6.0),
        (Aggregation::SumLastFour, 3.0 + 4.0 + 5.0 + 6.0),
        (Aggregation::SumAll, 21.0),
        (Aggregation::WeightedAverage, 3.5),
        (Aggregation::Mean, 3.5),
        (Aggregation::Index(4), 4.0),
        (Aggregation::ScalarMix, 3.5),
    ] {
        let config = LayerAggregationConfig {
            se: None,
            aggregation,
        };
        let agg = LayerAggregator::<B>::new(6, 1, &config, &dev()).expect("aggregator");
        assert_close(&values(agg.forward(&layers, &m).sequence), &[want], 1e-12);
    }
}

/// The learned aggregations away from their initial (uniform) weights, where the weighted average, the mean and
/// the scalar mix give different sequences.
#[test]
fn weighted_average_mean_and_scalar_mix_differ_where_they_should() {
    let layers: Vec<Tensor<B, 3>> = (1..=6)
        .map(|l| Tensor::ones([1, 1, 1], &dev()) * l as f64)
        .collect();
    let m = mask(vec![vec![1]]);

    // Scalar mix with w = (0, …, 0, ln 5) and γ = 2: softmax(w) = (0.1, …, 0.1, 0.5).
    let config = LayerAggregationConfig {
        se: None,
        aggregation: Aggregation::ScalarMix,
    };
    let mut agg = LayerAggregator::<B>::new(6, 1, &config, &dev()).expect("aggregator");
    let mix = agg.scalar_mix.as_mut().expect("scalar mix parameters");
    mix.weights =
        burn::module::Param::from_tensor(tensor(vec![0., 0., 0., 0., 0., 5f64.ln()], [6]));
    mix.gamma = burn::module::Param::from_tensor(tensor(vec![2.0], [1]));
    let want = 2.0 * ((1. + 2. + 3. + 4. + 5.) * 0.1 + 6. * 0.5);
    assert_close(&values(agg.forward(&layers, &m).sequence), &[want], 1e-12);

    // With an SE gate whose excitation is e_l = σ(b_l) (zero weights, recover bias b), the weighted average
    // divides Σ e_l H_l by Σ e_l and the mean by the number of layers.
    let bias = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
    let e: Vec<f64> = bias
        .iter()
        .map(|b: &f64| 1.0 / (1.0 + (-b).exp()))
        .collect();
    let weighted: f64 = e.iter().zip(1..=6).map(|(e, l)| e * l as f64).sum();
    for (aggregation, want) in [
        (
            Aggregation::WeightedAverage,
            weighted / e.iter().sum::<f64>(),
        ),
        (Aggregation::Mean, weighted / 6.0),
        (Aggregation::SumAll, weighted),
    ] {
        let config = LayerAggregationConfig {
            se: Some(SeConfig::default()),
            aggregation,
        };
        let mut agg = LayerAggregator::<B>::new(6, 1, &config, &dev()).expect("aggregator");
        let se = agg.se.as_mut().expect("gate");
        let [a, b] = se.bottleneck_fc.weight.dims();
        se.bottleneck_fc.weight = burn::module::Param::from_tensor(Tensor::zeros([a, b], &dev()));
        let [a, b] = se.recover_fc.weight.dims();
        se.recover_fc.weight = burn::module::Param::from_tensor(Tensor::zeros([a, b], &dev()));
        se.recover_fc.bias = Some(burn::module::Param::from_tensor(tensor(bias.to_vec(), [6])));
        let out = agg.forward(&layers, &m);
        assert_close(&values(out.gates.expect("gates")), &e, 1e-12);
        assert_close(&values(out.sequence), &[want], 1e-12);
    }
}

#[test]
fn projected_squeeze_is_the_masked_token_mean_on_a_learned_direction() {
    // Two layers, d = 2; example 0 has two real tokens (the third, padding, must not count), example 1 three.
    let h0 = tensor(
        vec![1., 2., 3., 4., 100., 100., 1., 0., 0., 1., 2., 2.],
        [2, 3, 2],
    );
    let h1 = h0.clone() * 2.0;
    let m = mask(vec![vec![1, 1, 0], vec![1, 1, 1]]);
    let u = tensor(vec![1., -1., 0.5, 0.5], [2, 2]);
    let z = values(projected_squeeze(&[h0.clone(), h1.clone()], &m, u));
    // Token means: example 0 (2, 3) and (4, 6); example 1 (1, 1) and (2, 2). z = uᵀm / √2, laid out [B, L].
    let r = 2f64.sqrt();
    assert_close(&z, &[-1.0 / r, 5.0 / r, 0.0, 2.0 / r], 1e-12);
    // With u_l = 1/√d the projection is the paper's masked mean.
    let uniform = tensor(vec![1.0 / r; 4], [2, 2]);
    let paper = values(squeeze(
        &[h0.clone(), h1.clone()],
        &m,
        SqueezeMode::MaskedMean,
    ));
    assert_close(
        &values(projected_squeeze(&[h0, h1], &m, uniform)),
        &paper,
        1e-12,
    );
    // The aggregator creates one direction per layer of the hidden width.
    let config = LayerAggregationConfig {
        se: Some(SeConfig {
            squeeze: SqueezeMode::Projected,
            ..SeConfig::default()
        }),
        aggregation: Aggregation::Last,
    };
    let agg = LayerAggregator::<B>::new(6, 5, &config, &dev()).expect("aggregator");
    let u = agg
        .se
        .and_then(|se| se.squeeze_projection)
        .expect("directions");
    assert_eq!(u.val().dims(), [6, 5]);
}
