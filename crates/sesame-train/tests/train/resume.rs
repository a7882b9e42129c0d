//! A run resumed from any of its checkpoints (inside an epoch or at its end) ends with exactly the weights and
//! the log of an uninterrupted run; damaged checkpoints are reported, not trusted.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use sesame_core::io::weights::to_safetensors;
use sesame_core::{Encoded, SequenceClassifier, SesameConfig};
use sesame_testkit::{copy_dir, random_streams, temp_dir, tiny_config, Golden, TempDir};

use sesame_train::batching::TokenizedSet;
use sesame_train::run::RunDir;
use sesame_train::{train, MetricsLine, RunControl, SavePolicy, Silent, TrainConfig, TrainInputs};
use sesame_train::{Label, Task, TrainError};

type AD = Autodiff<NdArray<f32>>;

/// 20 short examples of lengths 5 to 9, alternating classes.
fn twenty_examples() -> TokenizedSet {
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

fn weights(model: &SequenceClassifier<AD>) -> Vec<(String, Vec<f32>)> {
    let bytes = to_safetensors(model, model.family(), |_| true)
        .expect("export")
        .expect("parameters");
    Golden::from_bytes(bytes).all_f32()
}

fn run_dir(scratch: &TempDir, name: &str) -> RunDir {
    RunDir::create(scratch.path().join(name)).expect("run dir")
}

/// `metrics.jsonl` without the wall-clock throughput, which no two runs share.
fn log_without_timing(run: &RunDir) -> Vec<MetricsLine> {
    run.metrics()
        .expect("metrics")
        .into_iter()
        .map(|line| match line {
            MetricsLine::Train(mut step) => {
                step.examples_per_second = 0.0;
                MetricsLine::Train(step)
            }
            MetricsLine::Eval(mut eval) => {
                eval.examples_per_second = 0.0;
                MetricsLine::Eval(eval)
            }
        })
        .collect()
}

fn assert_same_weights(a: &SequenceClassifier<AD>, b: &SequenceClassifier<AD>, what: &str) {
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let diff = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff == 0.0, "{what}: {na} differs by up to {diff}");
    }
}

// Long: one scenario on one pair of runs: an uninterrupted run, resumes from each of its checkpoints, then
// the same checkpoints damaged; each stage compares with the first run.
#[test]
fn resumed_run_equals_uninterrupted_run_and_damage_is_reported() {
    let _streams = random_streams();
    let scratch = temp_dir("resume");
    let device = Default::default();
    let set = twenty_examples();
    // 20 examples in batches of 4: 5 updates an epoch, 15 in all; a checkpoint every 2 updates and at each
    // epoch end, all kept.
    let config = TrainConfig {
        epochs: 3,
        batch_size: 4,
        learning_rate: 1e-3,
        logging_steps: 2,
        eval_steps: Some(3),
        ..TrainConfig::default()
    };
    let control = RunControl {
        resume: false,
        save: SavePolicy {
            save_steps: Some(2),
            save_total_limit: 100,
        },
    };
    let resume = RunControl {
        resume: true,
        ..control.clone()
    };
    let fresh_model = |seed| {
        AD::seed(&device, seed);
        SequenceClassifier::<AD>::new(&tiny_config(), &SesameConfig::sesamebert(2), &device)
            .expect("model")
    };

    let run_a = run_dir(&scratch, "a");
    let inputs = TrainInputs {
        task: Task::Rte,
        train: &set,
        dev: &set,
        pad_id: 0,
        tokenizer_dir: &run_a.path,
    };
    let a = train(
        fresh_model(11),
        &inputs,
        &config,
        &run_a,
        &control,
        &device,
        &mut Silent,
    )
    .expect("run a");
    assert_eq!(a.state.updates, 15);
    let mut saved: Vec<String> = std::fs::read_dir(run_a.path.join("checkpoints"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with("checkpoint-"))
        .collect();
    saved.sort_by_key(|name| name[11..].parse::<usize>().expect("step"));
    let expected: Vec<String> = [2, 4, 5, 6, 8, 10, 12, 14, 15]
        .iter()
        .map(|k| format!("checkpoint-{k}"))
        .collect();
    assert_eq!(saved, expected, "every 2 updates and at each epoch end");

    // Resume from checkpoints inside epochs and at an epoch end, each in a copy of the run that has only that
    // checkpoint and the log as it was then (plus lines written after it, which the resume must drop). A
    // different initial model proves the weights come from the checkpoint.
    for k in [2usize, 5, 8, 12] {
        let run_k = run_dir(&scratch, &format!("k{k}"));
        copy_dir(&run_a.path, &run_k.path);
        for other in &saved {
            if *other != format!("checkpoint-{k}") {
                std::fs::remove_dir_all(run_k.path.join("checkpoints").join(other)).expect("rm");
            }
        }
        std::fs::write(
            run_k.path.join("checkpoints/LATEST"),
            format!("checkpoint-{k}"),
        )
        .expect("pointer");
        let b = train(
            fresh_model(999),
            &inputs,
            &config,
            &run_k,
            &resume,
            &device,
            &mut Silent,
        )
        .unwrap_or_else(|e| panic!("resume from checkpoint-{k}: {e}"));
        assert_eq!(b.state.updates, a.state.updates);
        assert_eq!(b.state.history, a.state.history);
        assert_same_weights(&a.model, &b.model, &format!("resumed at update {k}"));
        assert_eq!(
            log_without_timing(&run_k),
            log_without_timing(&run_a),
            "metrics.jsonl after resuming at update {k}"
        );
        std::fs::remove_dir_all(&run_k.path).expect("cleanup");
    }

    // Resuming where there is no checkpoint is an error saying so.
    let empty = run_dir(&scratch, "empty");
    let err = train(
        fresh_model(11),
        &inputs,
        &config,
        &empty,
        &resume,
        &device,
        &mut Silent,
    )
    .err()
    .expect("must fail");
    assert!(matches!(err, TrainError::NoCheckpoint { .. }), "{err}");
    assert!(
        err.to_string().contains("no checkpoint to resume from"),
        "{err}"
    );

    // A LATEST pointing nowhere is an error naming the pointer.
    let run_b = &run_a;
    let resume_fails = || {
        train(
            fresh_model(11),
            &inputs,
            &config,
            run_b,
            &resume,
            &device,
            &mut Silent,
        )
        .err()
        .expect("must fail")
    };
    std::fs::write(run_b.path.join("checkpoints/LATEST"), "checkpoint-77").expect("write");
    let err = resume_fails();
    assert!(
        matches!(err, TrainError::Run { .. }) && err.to_string().contains("checkpoint-77"),
        "{err}"
    );

    // A truncated model file in the checkpoint is an error naming the file.
    std::fs::write(run_b.path.join("checkpoints/LATEST"), "checkpoint-15").expect("write");
    let model_file = run_b
        .path
        .join("checkpoints/checkpoint-15/model.safetensors");
    let bytes = std::fs::read(&model_file).expect("read");
    std::fs::write(&model_file, &bytes[..bytes.len() / 3]).expect("truncate");
    let err = resume_fails();
    assert!(err.to_string().contains("model.safetensors"), "{err}");

    // A missing state file too.
    std::fs::remove_file(run_b.path.join("checkpoints/checkpoint-15/state.json")).expect("remove");
    let err = resume_fails();
    assert!(err.to_string().contains("state.json"), "{err}");

    let _ = std::fs::remove_dir_all(&run_a.path);
    let _ = std::fs::remove_dir_all(&empty.path);
}
