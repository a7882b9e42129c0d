//! Loading through burn-store: every parameter of a model loaded from a checkpoint trains (burn's
//! `Param::initialized` does not mark a tensor as requiring gradients, so a loader that forgot it would leave
//! the encoder frozen on an autodiff backend), and names map both ways.

use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use sesame_core::io::weights::{hugging_face_name, param_table};
use sesame_core::Family;
use sesame_core::ParamOrigin;
use sesame_core::{BertInput, SequenceClassifier, SesameConfig, Targets};
use sesame_testkit::{minilm_dir, CpuAutodiff};

#[test]
fn every_loaded_parameter_gets_a_gradient() {
    let device = Default::default();
    let mut config = SesameConfig::sesamebert(2);
    config.attention.localness = Some(Default::default());
    let (model, report) = SequenceClassifier::<CpuAutodiff>::from_pretrained(
        minilm_dir(),
        &config,
        sesame_core::MissingWeights::Refuse,
        &device,
    )
    .expect("model loads");
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let ids = |values: Vec<i64>| {
        Tensor::<CpuAutodiff, 2, Int>::from_data(TensorData::new(values, [2, 4]), &device)
    };
    let input = BertInput {
        input_ids: ids(vec![101, 2023, 2003, 102, 101, 2008, 102, 0]),
        token_type_ids: ids(vec![0; 8]),
        attention_mask: ids(vec![1, 1, 1, 1, 1, 1, 1, 0]),
    };
    let out = model.forward(input).expect("forward");
    let targets = Targets::Classes(Tensor::from_data(
        TensorData::new(vec![0i64, 1], [2]),
        &device,
    ));
    let loss = model.loss(&out, targets).expect("loss");
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let table = param_table(&model, model.family());
    // Every parameter except the position and token-type rows no example uses has a gradient entry; burn
    // tracks gradients per tensor, so one entry per parameter.
    assert_eq!(grads.len(), table.len(), "parameters without gradients");
    let pretrained = table
        .iter()
        .filter(|p| p.origin == ParamOrigin::Pretrained)
        .count();
    assert_eq!(pretrained, 3 + 2 + 6 * 16 + 2, "MiniLM's 103 tensors");
    // Each module declares its own fresh parameters (`FreshParams`); checked here against where burn's module
    // tree puts them: the head, the layer aggregator (SE gate) and every layer's localness network.
    for p in &table {
        let path = &p.module_path;
        let expected = if path.starts_with("classifier.") {
            ParamOrigin::Head
        } else if path.starts_with("aggregator.") || path.contains(".localness.") {
            ParamOrigin::Variant
        } else {
            ParamOrigin::Pretrained
        };
        assert_eq!(p.origin, expected, "{path}");
    }
    let localness = table
        .iter()
        .filter(|p| p.module_path.contains(".localness."))
        .count();
    assert!(
        localness >= 6,
        "a localness network in each of the 6 layers"
    );
}

#[test]
fn names_follow_hugging_face() {
    assert_eq!(
        hugging_face_name(
            "bert.encoder.layer.3.attention.self_attention.query.weight",
            Family::Bert
        ),
        "bert.encoder.layer.3.attention.self.query.weight"
    );
    assert_eq!(
        hugging_face_name("bert.embeddings.layer_norm.weight", Family::Bert),
        "bert.embeddings.LayerNorm.weight"
    );
    assert_eq!(
        hugging_face_name("aggregator.se.bottleneck_fc.bias", Family::Bert),
        "se.bottleneck_fc.bias"
    );
    assert_eq!(
        hugging_face_name("classifier.out_proj.weight", Family::Bert),
        "classifier.weight"
    );
    assert_eq!(
        hugging_face_name(
            "bert.encoder.layer.1.output.layer_norm.bias",
            Family::DistilBert
        ),
        "distilbert.transformer.layer.1.output_layer_norm.bias"
    );
}
