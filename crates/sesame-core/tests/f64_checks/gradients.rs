//! Gradient checks against central finite differences, in f64 (`Autodiff<NdArray<f64>>`), for every
//! component that adds computation to BERT — blur, SE gate, sparsegen-lin, MDG, PDG, the localness bias, the
//! exact sigmoid and GELU (the cases are `sesame_testkit::gradient_cases`, which the GPU-path test also runs
//! on the chosen backend) — and for the whole classifier.

use burn::backend::{Autodiff, NdArray};
use burn::module::Param;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::{BertModel, SequenceClassifier};
use sesame_testkit::gradient_cases::{component_cases, values_f64, GradCase};

type AD = Autodiff<NdArray<f64>>;

fn dev() -> <AD as burn::tensor::backend::BackendTypes>::Device {
    Default::default()
}

/// Compares autodiff's gradient of `case` at its point with central differences on every element.
fn check(case: &GradCase<'_, AD>) {
    let (_, analytic) = case.gradient(&dev());
    let h = 1e-6;
    let mut worst = 0f64;
    for i in 0..case.x0.len() {
        let at = |delta: f64| {
            let mut v = case.x0.clone();
            v[i] += delta;
            case.value(&v, &dev())
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        let err = (analytic[i] - numeric).abs() / numeric.abs().max(1.0);
        worst = worst.max(err);
        assert!(
            err < 1e-6,
            "{}[{i}]: autodiff {} vs finite difference {numeric}",
            case.name,
            analytic[i]
        );
    }
    let largest = analytic.iter().fold(0f64, |m, g| m.max(g.abs()));
    assert!(
        largest > 1e-3,
        "{}: the gradient is (near) zero, the check would prove nothing",
        case.name
    );
    eprintln!(
        "{}: {} elements, max relative error {worst:.2e}",
        case.name,
        case.x0.len()
    );
}

#[test]
fn every_method_component_matches_finite_differences() {
    let cases = component_cases::<AD>(&dev());
    // blur ×2, SE ×8 (the projected squeeze among them), sparsegen-lin ×3, MDG/PDG ×6, localness ×4, sigmoid,
    // GELU, the fused attention softmax ×3, the fused residual LayerNorm ×2, the dense layer ×2, ModernBERT's
    // RoPE, sliding-window attention and GeGLU, DeBERTa's disentangled attention ×2.
    assert_eq!(cases.len(), 37);
    for case in &cases {
        check(case);
    }
}

/// A classifier parameter checked as a case: the loss as a function of that one tensor.
fn param_case<'a, const D: usize>(
    name: &str,
    value: Tensor<AD, D>,
    f: impl Fn(Tensor<AD, D>) -> Tensor<AD, 1> + 'a,
) -> GradCase<'a, AD> {
    let shape = value.dims();
    GradCase::new(name, values_f64(value), shape, f)
}

// Long: one model, the parameters it checks listed one by one with the reason each is chosen.
/// The whole classifier (embeddings, masked attention, LayerNorm, GELU, pooler, head, cross-entropy) against
/// finite differences, so that a wrong backward anywhere in the stack — ours or the backend's — shows up.
#[test]
fn whole_classifier_gradient_wrt_attention_and_layer_norm_weights() {
    use sesame_core::{BertConfig, BertInput, SesameConfig, Targets};

    let mut config = BertConfig::with_shape(2, 8, 2, 16);
    config.vocab_size = 20;
    config.max_position_embeddings = 8;
    config.hidden_dropout_prob = 0.0;
    config.attention_probs_dropout_prob = 0.0;
    // Large weights so that attention is far from uniform and every gradient is well above rounding.
    config.initializer_range = 0.5;
    let mut sesame = SesameConfig::sesamebert(2);
    if let Some(blur) = sesame.attention.blur.as_mut() {
        blur.sigma = 0.5;
    }
    let model = SequenceClassifier::<AD>::new(&config, &sesame, &dev()).expect("model");
    let ids = Tensor::<AD, 2, Int>::from_data(
        TensorData::new(vec![1i64, 5, 7, 2, 1, 9, 2, 0], [2, 4]),
        &dev(),
    );
    let types = Tensor::<AD, 2, Int>::from_data(
        TensorData::new(vec![0i64, 0, 1, 1, 0, 0, 1, 0], [2, 4]),
        &dev(),
    );
    let mask_ids = Tensor::<AD, 2, Int>::from_data(
        TensorData::new(vec![1i64, 1, 1, 1, 1, 1, 1, 0], [2, 4]),
        &dev(),
    );
    let loss_of = |model: &SequenceClassifier<AD>| {
        let input = BertInput {
            input_ids: ids.clone(),
            token_type_ids: types.clone(),
            attention_mask: mask_ids.clone(),
        };
        let out = model.forward(input).expect("forward");
        let targets = Targets::Classes(Tensor::<AD, 1, Int>::from_data(
            TensorData::new(vec![1i64, 0], [2]),
            &dev(),
        ));
        model.loss(&out, targets).expect("loss")
    };

    let query = bert(&model).encoder.layer[0]
        .attention
        .self_attention
        .query
        .weight
        .val();
    check(&param_case(
        "classifier wrt layer-0 query weight",
        query,
        |w| {
            let mut m = model.clone();
            bert_mut(&mut m).encoder.layer[0]
                .attention
                .self_attention
                .query
                .weight = Param::from_tensor(w);
            loss_of(&m)
        },
    ));
    let ffn = bert(&model).encoder.layer[1]
        .intermediate
        .dense
        .weight
        .val();
    check(&param_case("classifier wrt layer-1 FFN weight", ffn, |w| {
        let mut m = model.clone();
        bert_mut(&mut m).encoder.layer[1].intermediate.dense.weight = Param::from_tensor(w);
        loss_of(&m)
    }));
    let gamma = bert(&model).embeddings.layer_norm.gamma.val();
    check(&param_case(
        "classifier wrt embedding LayerNorm weight",
        gamma,
        |g| {
            let mut m = model.clone();
            bert_mut(&mut m).embeddings.layer_norm.gamma = Param::from_tensor(g);
            loss_of(&m)
        },
    ));
    let words = bert(&model).embeddings.word_embeddings.weight.val();
    check(&param_case("classifier wrt word embeddings", words, |e| {
        let mut m = model.clone();
        bert_mut(&mut m).embeddings.word_embeddings.weight = Param::from_tensor(e);
        loss_of(&m)
    }));
}

/// The BERT encoder of a classifier built from a BERT config.
fn bert(model: &SequenceClassifier<AD>) -> &BertModel<AD> {
    model
        .bert
        .as_bert()
        .expect("a BERT config builds BERT's encoder")
}

fn bert_mut(model: &mut SequenceClassifier<AD>) -> &mut BertModel<AD> {
    model
        .bert
        .as_bert_mut()
        .expect("a BERT config builds BERT's encoder")
}
