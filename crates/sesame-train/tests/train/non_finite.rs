//! A non-finite loss stops the run with an error naming the epoch and step where it first appeared; the last
//! checkpoint before it stays complete and loadable, and nothing computed from the bad step is saved.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use sesame_core::rng::SplitMix64;
use sesame_core::{Encoded, SequenceClassifier, SesameConfig};
use sesame_testkit::{random_streams, temp_dir, tiny_config};
use sesame_train::batching::{epoch_batches, TokenizedSet};
use sesame_train::run::RunDir;
use sesame_train::{train, Label, RunControl, SavePolicy, Silent, Task, TrainConfig, TrainError};
use sesame_train::{TrainInputs, TrainerState};

type AD = Autodiff<NdArray<f32>>;

// Long: one run stopped by a non-finite loss, then what it left behind and its resume, checked in order.
#[test]
fn an_infinite_target_stops_the_run_at_its_step_and_keeps_the_last_checkpoint() {
    let device = Default::default();
    // A regression set (STS-B-like); one target is +inf, so the loss of the update that sees it is infinite.
    let n = 24;
    let mut encodings = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n as u32 {
        let ids: Vec<u32> = [1, 5 + i % 40, 6 + (i * 7) % 40, 2].to_vec();
        encodings.push(Encoded {
            token_type_ids: vec![0; ids.len()],
            input_ids: ids,
        });
        labels.push(Some(Label::Value((i % 5) as f32)));
    }
    let config = TrainConfig {
        epochs: 2,
        batch_size: 4,
        learning_rate: 1e-3,
        logging_steps: 100,
        ..TrainConfig::default()
    };
    // Poison an example of the 5th batch of the first epoch (the learner's own order): the bad step is 5.
    let lengths: Vec<usize> = encodings.iter().map(Encoded::len).collect();
    let mut rng = SplitMix64::derive(config.seed, 0);
    let batches = epoch_batches(&lengths, config.batch_size, Some(&mut rng), false);
    labels[batches[4][0]] = Some(Label::Value(f32::INFINITY));
    let set = TokenizedSet { encodings, labels };

    let scratch = temp_dir("non-finite");
    let dir = scratch.path().join("run");
    let run = RunDir::create(&dir).expect("run dir");
    let inputs = TrainInputs {
        task: Task::Stsb,
        train: &set,
        dev: &set,
        pad_id: 0,
        tokenizer_dir: &dir,
    };
    let control = RunControl {
        resume: false,
        save: SavePolicy {
            save_steps: Some(3),
            save_total_limit: 1,
        },
    };
    let _streams = random_streams();
    AD::seed(&device, 3);
    let model = SequenceClassifier::<AD>::new(&tiny_config(), &SesameConfig::baseline(1), &device)
        .expect("model");
    let err = train(
        model,
        &inputs,
        &config,
        &run,
        &control,
        &device,
        &mut Silent,
    )
    .err()
    .expect("an infinite loss must stop the run");
    match &err {
        TrainError::NonFinite {
            quantity,
            epoch,
            step,
            ..
        } => {
            assert_eq!((*quantity, *epoch, *step), ("loss", 0, 5), "{err}");
        }
        other => panic!("expected a non-finite error, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains("epoch 0, step 5"), "{message}");

    // A checkpoint was due at 3 and at 6 (epoch end); the second never came. The first is intact: it loads and
    // resumes (with the poison still there, it stops at the same step again).
    let latest = run
        .latest_checkpoint()
        .expect("pointer")
        .expect("a checkpoint");
    assert!(latest.ends_with("checkpoint-3"), "{}", latest.display());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(latest.join("state.json")).expect("state"))
            .expect("json");
    let state: TrainerState = serde_json::from_value(state["trainer"].clone()).expect("state");
    assert_eq!(
        (state.epochs_done, state.batches_done, state.updates),
        (0, 3, 3)
    );
    AD::seed(&device, 4);
    let model = SequenceClassifier::<AD>::new(&tiny_config(), &SesameConfig::baseline(1), &device)
        .expect("model");
    let resume = RunControl {
        resume: true,
        ..control
    };
    let again = train(model, &inputs, &config, &run, &resume, &device, &mut Silent)
        .err()
        .expect("same poison, same stop");
    assert!(again.to_string().contains("epoch 0, step 5"), "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}
