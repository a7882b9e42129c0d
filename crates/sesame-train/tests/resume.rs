//! A run interrupted after epoch 1 and resumed from its checkpoint ends with exactly the weights of an
//! uninterrupted run; damaged checkpoints are reported, not trusted. (One test per binary: the backend RNG is
//! process-global.)

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use sesame_core::io::checkpoint::to_safetensors;
use sesame_core::{Encoded, SequenceClassifier, SesameConfig};
use sesame_testkit::{tiny_config, Golden};
use sesame_train::batching::TokenizedSet;
use sesame_train::run::RunDir;
use sesame_train::{train, Silent, TrainConfig, TrainInputs, TrainObserver};
use sesame_train::{Label, Task, TrainError};

type AD = Autodiff<NdArray<f32>>;

fn toy_set() -> TokenizedSet {
    let (mut encodings, mut labels) = (Vec::new(), Vec::new());
    for i in 0..20u32 {
        let ids: Vec<u32> = std::iter::once(1)
            .chain((0..3 + i % 5).map(|k| 5 + (i * 11 + k * 7) % 50))
            .chain([2])
            .collect();
        let n = ids.len();
        encodings.push(Encoded {
            input_ids: ids,
            token_type_ids: vec![0; n],
        });
        labels.push(Some(Label::Class((i % 2) as usize)));
    }
    TokenizedSet { encodings, labels }
}

struct StopAfterFirstEpoch;
impl TrainObserver for StopAfterFirstEpoch {
    fn should_stop(&mut self) -> bool {
        true
    }
}

fn weights(model: &SequenceClassifier<AD>) -> Vec<(String, Vec<f32>)> {
    let bytes = to_safetensors(model, |_| true)
        .expect("export")
        .expect("parameters");
    Golden::from_bytes(bytes).all_f32()
}

fn run_dir(name: &str) -> RunDir {
    let dir = std::env::temp_dir().join(format!("sesame-resume-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    RunDir::create(dir).expect("run dir")
}

#[test]
fn resumed_run_equals_uninterrupted_run_and_damage_is_reported() {
    let device = Default::default();
    let set = toy_set();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 4,
        learning_rate: 1e-3,
        log_every: 2,
        ..TrainConfig::default()
    };
    let fresh_model = || {
        AD::seed(&device, 11);
        SequenceClassifier::<AD>::new(&tiny_config(), &SesameConfig::sesamebert(2), &device)
            .expect("model")
    };

    let run_a = run_dir("a");
    let inputs = TrainInputs {
        task: Task::Rte,
        train: &set,
        dev: &set,
        pad_id: 0,
        tokenizer_dir: &run_a.path,
    };
    let a = train(
        fresh_model(),
        &inputs,
        &config,
        &run_a,
        false,
        &device,
        &mut Silent,
    )
    .expect("run a");

    let run_b = run_dir("b");
    let stopped = train(
        fresh_model(),
        &inputs,
        &config,
        &run_b,
        false,
        &device,
        &mut StopAfterFirstEpoch,
    )
    .expect("run b, first epoch");
    assert_eq!(stopped.state.epochs_done, 1);
    assert_ne!(
        weights(&stopped.model),
        weights(&a.model),
        "one epoch is not three"
    );
    // A different initial model proves the weights really come from the checkpoint.
    AD::seed(&device, 999);
    let other =
        SequenceClassifier::<AD>::new(&tiny_config(), &SesameConfig::sesamebert(2), &device)
            .expect("model");
    let b =
        train(other, &inputs, &config, &run_b, true, &device, &mut Silent).expect("run b, resumed");
    assert_eq!(b.state.epochs_done, 3);
    assert_eq!(b.state.updates, a.state.updates);
    assert_eq!(b.state.history, a.state.history);
    let (wa, wb) = (weights(&a.model), weights(&b.model));
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let diff = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff == 0.0, "{na} differs after resuming by up to {diff}");
    }

    // A LATEST pointing nowhere is an error naming the pointer.
    std::fs::write(run_b.path.join("checkpoints/LATEST"), "epoch-77").expect("write");
    let err = train(
        fresh_model(),
        &inputs,
        &config,
        &run_b,
        true,
        &device,
        &mut Silent,
    )
    .err()
    .expect("must fail");
    assert!(
        matches!(err, TrainError::Run { .. }) && err.to_string().contains("epoch-77"),
        "{err}"
    );

    // A truncated model file in the checkpoint is an error naming the file.
    std::fs::write(run_b.path.join("checkpoints/LATEST"), "epoch-3").expect("write");
    let model_file = run_b.path.join("checkpoints/epoch-3/model.safetensors");
    let bytes = std::fs::read(&model_file).expect("read");
    std::fs::write(&model_file, &bytes[..bytes.len() / 3]).expect("truncate");
    let err = train(
        fresh_model(),
        &inputs,
        &config,
        &run_b,
        true,
        &device,
        &mut Silent,
    )
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // A missing state file too.
    std::fs::remove_file(run_b.path.join("checkpoints/epoch-3/state.json")).expect("remove");
    let err = train(
        fresh_model(),
        &inputs,
        &config,
        &run_b,
        true,
        &device,
        &mut Silent,
    )
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("state.json"), "{err}");

    let _ = std::fs::remove_dir_all(&run_a.path);
    let _ = std::fs::remove_dir_all(&run_b.path);
}
