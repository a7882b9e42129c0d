//! The GPU runtime's kernel cache across processes (`sesame::runtime`): the same short fine-tune twice, each in a
//! process of its own (this test binary run again as a child), sharing a fresh cache folder. The second process
//! must load what the first compiled (at most a tenth of the first's compilations) and train to the same
//! per-update losses, with no autotune run (results loaded from the cache, or none without the `autotune`
//! feature). And without a driver, the backend stops with a clear error (through `backend::open`, the
//! path a CUDA build takes on a machine without a GPU). GPU builds only (CI runs them with `--features wgpu` and
//! without `autotune` on Mesa's lavapipe).
#![cfg(any(feature = "wgpu", feature = "cuda"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use sesame::backend::{self, AutodiffBackend};
use sesame::train::run::RunDir;
use sesame::train::{
    finetune, FinetuneJob, MetricsLine, RunReport, Silent, Start, Task, TrainConfig,
};
use sesame::{MissingWeights, SesameConfig};
use sesame_testkit::{head_lines, shared_dir};

/// Set in the child processes: the run directory to write.
const CHILD: &str = "SESAME_CACHE_TEST_RUN";
const TEST_NAME: &str = "a_second_process_loads_the_first_ones_kernels_and_trains_alike";

/// This test binary, to run only this module's test `name` in a child process (the harness's full name of the
/// test: the module path without the binary's own name).
fn child_running(name: &str) -> Command {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, module)| module);
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command.args([&format!("{module}::{name}"), "--exact", "--nocapture"]);
    command
}

/// The first `rows` rows of RTE's `split`.tsv, into `dir/RTE/`.
fn small_rte(dir: &Path, split: &str, rows: usize) {
    let file = format!("{split}.tsv");
    std::fs::create_dir_all(dir.join("RTE")).expect("data dir");
    head_lines(
        &shared_dir().join("data/glue/RTE").join(&file),
        &dir.join("RTE").join(&file),
        rows,
    );
}

/// The child's job: 3 updates of the tiny RoBERTa on 48 RTE pairs, evaluated on 40, with a shape plan of one
/// length and its warm-up.
fn child(run_dir: &Path) {
    sesame::runtime::count_kernels();
    let device = backend::open().expect("the GPU backend opens");
    let data = run_dir.with_extension("data");
    small_rte(&data, "train", 48);
    small_rte(&data, "dev", 40);
    let job = FinetuneJob {
        task: Task::Rte,
        model_dir: shared_dir().join("models/tiny-roberta"),
        data_dir: data,
        output_dir: run_dir.to_path_buf(),
        recipe: TrainConfig {
            epochs: 1,
            batch_size: 16,
            max_seq_length: 64,
            logging_steps: 1,
            // One planned length: the claim is about the cache, and every further bucket only multiplies the
            // kernels both processes compile or load (minutes on a software Vulkan driver).
            length_buckets: 1,
            ..TrainConfig::default()
        },
        model: SesameConfig::baseline(2),
        checkpoints: Default::default(),
        skip_malformed: false,
        missing_weights: MissingWeights::Refuse,
    };
    finetune::<AutodiffBackend>(&job, Start::Overwrite, &device, &mut Silent).expect("fine-tunes");
}

fn train_losses(run: &Path) -> Vec<f64> {
    RunDir {
        path: run.to_path_buf(),
    }
    .metrics()
    .expect("metrics.jsonl")
    .into_iter()
    .filter_map(|line| match line {
        MetricsLine::Train(step) => Some(step.loss),
        MetricsLine::Eval(_) => None,
    })
    .collect()
}

#[test]
fn a_second_process_loads_the_first_ones_kernels_and_trains_alike() {
    if let Some(run) = std::env::var_os(CHILD) {
        child(Path::new(&run));
        return;
    }
    let root: PathBuf =
        std::env::temp_dir().join(format!("sesame-gpu-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cache = root.join("cache");
    let mut reports = Vec::new();
    for process in ["first", "second"] {
        let run = root.join(process);
        let status = child_running(TEST_NAME)
            .arg("--test-threads=1")
            .env(CHILD, &run)
            .env(sesame::runtime::CACHE_DIR_VAR, &cache)
            .status()
            .expect("the child process starts");
        assert!(status.success(), "the {process} process failed");
        let report: RunReport = serde_json::from_str(
            &std::fs::read_to_string(run.join("report.json")).expect("report.json"),
        )
        .expect("report.json parses");
        reports.push((run, report));
    }
    let kernels = |r: &RunReport| r.startup.kernels_in_all.expect("the kernels were counted");
    let (first, second) = (kernels(&reports[0].1), kernels(&reports[1].1));
    eprintln!(
        "{}: first process {first:?} ({:.1} s to the first update), second {second:?} ({:.1} s)",
        backend::NAME,
        reports[0]
            .1
            .startup
            .seconds_to_first_update
            .unwrap_or(f64::NAN),
        reports[1]
            .1
            .startup
            .seconds_to_first_update
            .unwrap_or(f64::NAN),
    );
    assert!(first.compiled > 0, "a fresh cache compiles");
    // Tuned only where burn autotunes (the `autotune` feature; CI's lavapipe build goes without).
    assert_eq!(
        first.autotune_runs > 0,
        cfg!(feature = "autotune"),
        "autotune runs in a fresh cache exactly when the `autotune` feature is on"
    );
    assert!(
        second.compiled * 10 <= first.compiled,
        "the second process compiled {} kernels, more than a tenth of the first's {}",
        second.compiled,
        first.compiled
    );
    assert_eq!(
        second.autotune_runs, 0,
        "autotune results come from the cache"
    );
    assert!(second.cache_hits > 0);
    for (_, report) in &reports {
        let dir = report.startup.kernel_cache.as_ref();
        assert!(
            dir.is_some_and(|d| d.starts_with(&cache)),
            "kernel cache {dir:?}"
        );
    }
    let (a, b) = (train_losses(&reports[0].0), train_losses(&reports[1].0));
    eprintln!("per-update losses {a:?} and {b:?}");
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "the same losses in both processes");
    let _ = std::fs::remove_dir_all(&root);
}

/// Set in the child process of the next test: the backend must find no device.
const NO_DEVICE_CHILD: &str = "SESAME_NO_DEVICE_TEST";

/// Without a GPU driver (here: a Vulkan loader pointed at no driver) the backend stops at once with an error
/// that says what it needs, instead of a panic from inside the driver layer.
#[cfg(feature = "wgpu")]
#[test]
fn without_a_driver_the_backend_stops_with_a_clear_error() {
    if std::env::var_os(NO_DEVICE_CHILD).is_some() {
        let err = backend::open().expect_err("no Vulkan driver, no device");
        let message = err.to_string();
        eprintln!("{message}");
        assert!(
            message.contains("the wgpu backend found no usable device"),
            "{message}"
        );
        assert!(message.contains("It needs a GPU"), "{message}");
        return;
    }
    let status = child_running("without_a_driver_the_backend_stops_with_a_clear_error")
        .env(NO_DEVICE_CHILD, "1")
        .env("VK_ICD_FILENAMES", "/nonexistent/no-driver.json")
        .status()
        .expect("the child process starts");
    assert!(
        status.success(),
        "the child saw a device, or an unclear error"
    );
}

/// Set in the child process of the next test.
const UNWRITABLE_CHILD: &str = "SESAME_UNWRITABLE_CACHE_TEST";

/// A cache folder that cannot be created is a warning: the device opens and computes, uncached.
#[test]
fn an_unwritable_cache_folder_is_a_warning_not_an_error() {
    if std::env::var_os(UNWRITABLE_CHILD).is_some() {
        let device = backend::open().expect("the device opens without a cache");
        let setup = sesame::runtime::configure();
        eprintln!("{setup:?}");
        assert_eq!(setup.cache_dir, None);
        let warning = setup.warning.as_deref().unwrap_or_default();
        assert!(warning.contains("is not writable"), "{warning}");
        let x = burn::tensor::Tensor::<backend::Backend, 1>::from_floats([1.0, 2.0], &device);
        assert_eq!(
            (x.clone() * x)
                .into_data()
                .to_vec::<f32>()
                .expect("host copy"),
            vec![1.0, 4.0]
        );
        return;
    }
    // A regular file where the folder should be.
    let file = std::env::temp_dir().join(format!("sesame-not-a-folder-{}", std::process::id()));
    std::fs::write(&file, b"").expect("temp file");
    let status = child_running("an_unwritable_cache_folder_is_a_warning_not_an_error")
        .env(UNWRITABLE_CHILD, "1")
        .env(sesame::runtime::CACHE_DIR_VAR, file.join("cache"))
        .status()
        .expect("the child process starts");
    let _ = std::fs::remove_file(&file);
    assert!(status.success(), "the child failed");
}
