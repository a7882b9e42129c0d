//! Golden values of methods.md (§1.8, §2.2, §3.3) and the identities the components must satisfy.

use burn::backend::NdArray;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::methods::blur::gaussian_kernel;
use sesame_core::methods::guiding::{mdg_loss, pdg_loss};
use sesame_core::methods::se::{squeeze, LayerAggregator};
use sesame_core::methods::sparsegen::{sparsegen_lin, sparsemax};
use sesame_core::{
    Aggregation, AttentionConfig, AttentionMask, BertConfig, BertInput, BertModel, BlurBoundary,
    BlurConfig, BlurTarget, LayerAggregationConfig, SeConfig, SqueezeMode,
};

pub(crate) type B = NdArray<f64>;

pub(crate) fn dev() -> <B as burn::tensor::backend::BackendTypes>::Device {
    Default::default()
}

pub(crate) fn tensor<const D: usize>(data: Vec<f64>, shape: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(data, shape), &dev())
}

pub(crate) fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 data")
}

pub(crate) fn mask(rows: Vec<Vec<i64>>) -> AttentionMask<B> {
    let (b, n) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.into_iter().flatten().collect();
    AttentionMask::new(Tensor::<B, 2, Int>::from_data(
        TensorData::new(flat, [b, n]),
        &dev(),
    ))
}

pub(crate) fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "index {i}: got {g}, want {w} (tol {tol}); all: {got:?}"
        );
    }
}

#[test]
fn gaussian_kernel_table() {
    assert_close(&gaussian_kernel(3, 0.01), &[0.0, 1.0, 0.0], 0.0);
    let k = gaussian_kernel(3, 0.1);
    assert!((k[0] / 1.93e-22 - 1.0).abs() < 1e-2 && k[1] == 1.0, "{k:?}");
    assert_close(
        &gaussian_kernel(3, 0.3),
        &[0.003836, 0.992327, 0.003836],
        1e-6,
    );
    assert_close(
        &gaussian_kernel(3, 0.5),
        &[0.106507, 0.786986, 0.106507],
        1e-6,
    );
    assert_close(
        &gaussian_kernel(5, 0.5),
        &[2.64e-4, 0.1065, 0.7866, 0.1065, 2.64e-4],
        1e-4,
    );
}

fn blur_1d(sigma: f64, x: Vec<f64>) -> Vec<f64> {
    let n = x.len();
    let config = BlurConfig {
        sigma,
        ..BlurConfig::default()
    };
    let out = config
        .blur()
        .forward(tensor(x, [1, n, 1]), &mask(vec![vec![1; n]]))
        .expect("blur");
    values(out)
}

#[test]
fn blur_of_1_0_0_2_matches_the_reference() {
    assert_close(
        &blur_1d(0.5, vec![1., 0., 0., 2.]),
        &[0.893493, 0.106507, 0.213014, 1.786986],
        1e-6,
    );
    assert_close(
        &blur_1d(0.3, vec![1., 0., 0., 2.]),
        &[0.996164, 0.003836, 0.007673, 1.992327],
        1e-6,
    );
}

#[test]
fn blur_with_sigma_001_is_the_identity() {
    let x: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin()).collect();
    assert_eq!(blur_1d(0.01, x.clone()), x);
}

#[test]
fn true_end_blur_mirrors_at_the_last_real_token_and_keeps_pads() {
    let config = BlurConfig {
        sigma: 0.5,
        boundary: BlurBoundary::TrueEnd,
        ..BlurConfig::default()
    };
    let x = tensor(vec![1., 0., 0., 2., 7., 9.], [1, 6, 1]);
    let got = values(
        config
            .blur()
            .forward(x, &mask(vec![vec![1, 1, 1, 1, 0, 0]]))
            .expect("blur"),
    );
    assert_close(&got[..4], &[0.893493, 0.106507, 0.213014, 1.786986], 1e-6);
    assert_eq!(&got[4..], &[7., 9.]);
}

#[test]
fn kernel_of_five_mirrors_two_positions() {
    // numpy "symmetric" padding of 2: [x1, x0 | x0 … x3 | x3, x2].
    let g = gaussian_kernel(5, 0.5);
    let got = {
        let config = BlurConfig {
            kernel_size: 5,
            sigma: 0.5,
            ..BlurConfig::default()
        };
        values(
            config
                .blur()
                .forward(
                    tensor(vec![1., 0., 0., 0.], [1, 4, 1]),
                    &mask(vec![vec![1; 4]]),
                )
                .expect("blur"),
        )
    };
    // Position 0 sees x1, x0, x0, x1, x2 → g0·0 + g1·1 + g2·1 + g3·0 + g4·0.
    assert!((got[0] - (g[1] + g[2])).abs() < 1e-12, "{got:?}");
    assert!((got[1] - (g[0] + g[1])).abs() < 1e-12, "{got:?}");
    assert!((got[2] - g[0]).abs() < 1e-12, "{got:?}");
}

#[test]
fn se_gate_with_zero_weights_is_sigmoid_of_08() {
    let config = LayerAggregationConfig {
        se: Some(SeConfig::default()),
        aggregation: Aggregation::Last,
    };
    let mut agg = LayerAggregator::<B>::new(12, 4, &config, &dev()).expect("aggregator");
    let se = agg.se.as_mut().expect("gate");
    se.bottleneck_fc.weight = burn::module::Param::from_tensor(Tensor::zeros([12, 4], &dev()));
    se.recover_fc.weight = burn::module::Param::from_tensor(Tensor::zeros([4, 12], &dev()));
    let layers: Vec<Tensor<B, 3>> = (0..12)
        .map(|l| Tensor::ones([2, 3, 4], &dev()) * l as f64)
        .collect();
    let out = agg.forward(&layers, &mask(vec![vec![1, 1, 0], vec![1, 1, 1]]));
    let gates = values(out.gates.expect("gates"));
    assert_eq!(gates.len(), 24);
    assert_close(&gates, &[0.689974; 24], 1e-6);
    // Aggregation "last": O = e_L · H_L = 0.689974 · 11.
    assert_close(&values(out.sequence), &[0.689974 * 11.0; 24], 1e-5);
}

#[test]
fn squeeze_modes_differ_only_with_padding() {
    let h = tensor(vec![1., 1., 4., 4.], [1, 2, 2]);
    let m = mask(vec![vec![1, 0]]);
    assert_close(
        &values(squeeze(
            std::slice::from_ref(&h),
            &m,
            SqueezeMode::UnmaskedPadded,
        )),
        &[2.5],
        1e-12,
    );
    assert_close(
        &values(squeeze(&[h], &m, SqueezeMode::MaskedMean)),
        &[1.0],
        1e-12,
    );
}

#[test]
fn se_with_gate_forced_to_one_and_last_equals_the_plain_encoder() {
    let config = LayerAggregationConfig {
        se: Some(SeConfig {
            bias_init: 60.0, // σ(60) = 1 in f64 to 1e-26
            ..SeConfig::default()
        }),
        aggregation: Aggregation::Last,
    };
    let mut agg = LayerAggregator::<B>::new(3, 2, &config, &dev()).expect("aggregator");
    let se = agg.se.as_mut().expect("gate");
    se.bottleneck_fc.weight = burn::module::Param::from_tensor(Tensor::zeros([3, 1], &dev()));
    se.recover_fc.weight = burn::module::Param::from_tensor(Tensor::zeros([1, 3], &dev()));
    let layers: Vec<Tensor<B, 3>> = (0..3)
        .map(|l| tensor((0..8).map(|i| ((i + l) as f64).cos()).collect(), [2, 2, 2]))
        .collect();
    let out = agg.forward(&layers, &mask(vec![vec![1, 1], vec![1, 0]]));
    assert_eq!(values(out.sequence), values(layers[2].clone()));
}

#[test]
fn sparsemax_and_sparsegen_lin_known_values() {
    let e = tensor(vec![1.0, 0.5, -1.0], [1, 3]);
    assert_close(&values(sparsemax(e.clone())), &[0.75, 0.25, 0.0], 1e-12);
    // sparsegen-lin(e; λ = −1) = sparsemax(e / 2).
    assert_close(
        &values(sparsegen_lin(e.clone(), -1.0)),
        &[0.625, 0.375, 0.0],
        1e-12,
    );
    // λ → −∞: uniform.
    assert_close(&values(sparsegen_lin(e, -1e7)), &[1.0 / 3.0; 3], 1e-6);
}

#[test]
fn sparsegen_lin_rows_sum_to_one_and_ignore_masked_keys() {
    let n = 7;
    let data: Vec<f64> = (0..4 * n)
        .map(|i| ((i * 37 % 11) as f64) * 0.7 - 3.0)
        .collect();
    let mut scores = tensor(data, [4, n]);
    // Mask the last two keys of every row as the model does.
    let bias: Vec<f64> = (0..n)
        .map(|j| if j >= n - 2 { -1e4 } else { 0.0 })
        .collect();
    scores = scores + tensor(bias, [1, n]);
    for lambda in [0.0, -2.0, -8.0, 0.5] {
        let p = values(sparsegen_lin(scores.clone(), lambda));
        for row in p.chunks(n) {
            assert!(
                (row.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                "λ={lambda}: {row:?}"
            );
            assert!(row.iter().all(|&x| x >= 0.0));
            assert_eq!(&row[n - 2..], &[0.0, 0.0]);
        }
    }
    // Larger λ is sparser, strictly on these rows: the exact number of zeros among the 20 unmasked entries
    // (each row keeps at least one).
    let zeros = |lambda: f64| {
        values(sparsegen_lin(scores.clone(), lambda))
            .chunks(n)
            .map(|row| row[..n - 2].iter().filter(|&&x| x == 0.0).count())
            .sum::<usize>()
    };
    let counts = [zeros(-8.0), zeros(0.0), zeros(0.5)];
    assert_eq!(counts, [8, 15, 16], "zeros at λ = -8, 0, 0.5");
}

#[test]
fn mdg_and_pdg_golden_example() {
    let p = tensor(
        vec![
            0.7, 0.1, 0.1, 0.1, 0.25, 0.25, 0.25, 0.25, 0.1, 0.1, 0.1, 0.7,
        ],
        [1, 3, 4],
    );
    assert_close(&values(mdg_loss(p.clone(), 2.0)), &[0.961061], 1e-6);
    assert_close(&values(pdg_loss(p, None)), &[0.778107], 1e-6);
}

fn tiny_input(n: usize, pad: usize) -> BertInput<B> {
    let ids: Vec<i64> = (0..2 * n).map(|i| 5 + (i as i64 * 7) % 40).collect();
    let mask: Vec<i64> = (0..2 * n)
        .map(|i| if i >= 2 * n - pad { 0 } else { 1 })
        .collect();
    let t = |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [2, n]), &dev());
    BertInput {
        input_ids: t(ids),
        token_type_ids: t(vec![0; 2 * n]),
        attention_mask: t(mask),
    }
}

#[test]
fn model_with_sigma_001_blur_equals_the_plain_model() {
    let config = BertConfig::with_shape(2, 16, 4, 32);
    let plain = BertModel::<B>::new(&config, &AttentionConfig::default(), &dev()).expect("model");
    for target in [BlurTarget::Context, BlurTarget::Value] {
        let blurred_config = AttentionConfig {
            blur: Some(BlurConfig {
                target,
                sigma: 0.01,
                ..BlurConfig::default()
            }),
            ..AttentionConfig::default()
        };
        // Same weights: load the plain model's record into the blurred one.
        let blurred = BertModel::<B>::new(&config, &blurred_config, &dev())
            .expect("model")
            .load_record(plain.clone().into_record());
        let a = plain.forward(tiny_input(6, 2), false).expect("forward");
        let b = blurred.forward(tiny_input(6, 2), false).expect("forward");
        assert_eq!(values(a.last_hidden_state()), values(b.last_hidden_state()));
        // σ = 0.5 really changes the output, so the comparison above can fail.
        let strong = BertModel::<B>::new(
            &config,
            &AttentionConfig {
                blur: Some(BlurConfig {
                    target,
                    sigma: 0.5,
                    ..BlurConfig::default()
                }),
                ..AttentionConfig::default()
            },
            &dev(),
        )
        .expect("model")
        .load_record(plain.clone().into_record());
        let c = strong.forward(tiny_input(6, 2), false).expect("forward");
        assert_ne!(values(a.last_hidden_state()), values(c.last_hidden_state()));
    }
}
