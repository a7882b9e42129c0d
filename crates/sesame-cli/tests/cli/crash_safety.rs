//! Nothing lost, nothing overwritten: `sesame finetune` killed with SIGKILL at random moments (inside
//! checkpoint writes too) and resumed ends with the bytes of an uninterrupted run; a full disk during a
//! checkpoint leaves the previous one loadable; a finished run is not overwritten; `--resume` without a
//! checkpoint and checkpoints of another architecture are refused. All on a 2-layer, 32-wide random BERT, so
//! that a run takes about a second and its checkpoints a few MB.
//!
//! Long: each failure a run must survive is a test of its own, sharing the small model and the run helpers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sesame_testkit::{head_lines, shared_dir, temp_dir, write_tiny_bert};

use crate::common::{s, sesame, sesame_command};
use sesame_core::rng::SplitMix64;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The model and data every test here trains on.
struct Fixture {
    model: PathBuf,
    glue: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Kept for the whole test run (a static).
        let root = temp_dir("crash-fixture").keep();
        let model = root.join("tiny-bert");
        write_tiny_bert(&model, 5);
        let glue = root.join("glue");
        std::fs::create_dir_all(glue.join("RTE")).expect("dir");
        let src = shared_dir().join("data/glue/RTE");
        head_lines(&src.join("train.tsv"), &glue.join("RTE/train.tsv"), 64);
        head_lines(&src.join("dev.tsv"), &glue.join("RTE/dev.tsv"), 16);
        Fixture { model, glue }
    })
}

/// `finetune` arguments: 64 examples in batches of 8, two epochs (16 updates), a checkpoint after every
/// update, plus `extra`.
fn finetune_args(output: &Path, extra: &[&str]) -> Vec<String> {
    let f = fixture();
    let mut args: Vec<String> = [
        "finetune",
        "--task",
        "rte",
        "--model",
        s(&f.model),
        "--data-dir",
        s(&f.glue),
        "--output-dir",
        s(output),
        "--variant",
        "sesamebert",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--max-seq-length",
        "64",
        "--learning-rate",
        "1e-3",
        "--save-steps",
        "1",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// `sesame args…` started in the background, its stderr kept for the test.
fn spawn_sesame(args: &[String]) -> std::process::Child {
    sesame_command()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn finetune(output: &Path, extra: &[&str]) -> Output {
    let args = finetune_args(output, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sesame(&refs)
}

/// An uninterrupted run (made once), its wall time and the size of one checkpoint.
struct Reference {
    dir: PathBuf,
    seconds: f64,
    checkpoint_bytes: u64,
}

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = temp_dir("crash-reference").keep().join("run");
        let start = Instant::now();
        let out = finetune(&dir, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let seconds = start.elapsed().as_secs_f64();
        let checkpoint_bytes = std::fs::read_dir(dir.join("checkpoints/checkpoint-16"))
            .expect("final checkpoint")
            .map(|e| e.expect("entry").metadata().expect("meta").len())
            .sum();
        Reference {
            dir,
            seconds,
            checkpoint_bytes,
        }
    })
}

/// Every file under `dir` with its bytes, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("prefix").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `metrics.jsonl` without the throughput field (wall-clock, never equal between runs).
fn log_without_timing(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .expect("metrics")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json line");
            if let Some(o) = v.as_object_mut() {
                o.remove("examples_per_second");
            }
            v
        })
        .collect()
}

/// The final weights, optimizer state, best model and log of two runs are the same bytes.
fn assert_same_run(a: &Path, b: &Path, what: &str) {
    for file in [
        "checkpoints/checkpoint-16/model.safetensors",
        "checkpoints/checkpoint-16/optimizer.safetensors",
        "best/model.safetensors",
        "best/predictions_dev.tsv",
        "final_metrics.json",
    ] {
        let (x, y) = (
            std::fs::read(a.join(file)).expect(file),
            std::fs::read(b.join(file)).expect(file),
        );
        assert!(x == y, "{what}: {file} differs from the uninterrupted run");
    }
    assert_eq!(
        log_without_timing(a),
        log_without_timing(b),
        "{what}: metrics.jsonl"
    );
}

/// A uniform draw in [0, 1) from the learner's own SplitMix64.
fn uniform(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

// Long: one scenario: a reference run, then runs killed at random moments and resumed, compared byte for
// byte with the reference.
#[test]
fn sigkill_at_random_moments_then_resume_ends_bit_identical() {
    let reference = reference();
    let seed = std::env::var("SESAME_KILL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!(
        "SESAME_KILL_SEED={seed}; an uninterrupted run takes {:.2} s",
        reference.seconds
    );
    let mut rng = SplitMix64::new(seed); // seeded from the clock unless SESAME_KILL_SEED is set
    let scratch = temp_dir("crash-killed");
    let dir = scratch.path().join("run");
    let args = finetune_args(&dir, &["--resume-if-possible"]);
    let latest = || std::fs::read_to_string(dir.join("checkpoints/LATEST")).ok();
    // The temporary directories in `checkpoints/` with their modification times: a checkpoint being written
    // (or one whose writer died).
    let writing = || -> Vec<(String, Option<std::time::SystemTime>)> {
        std::fs::read_dir(dir.join("checkpoints")).map_or(Vec::new(), |entries| {
            entries
                .flatten()
                .map(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    (name, e.metadata().and_then(|m| m.modified()).ok())
                })
                .filter(|(name, _)| name.ends_with(".tmp"))
                .collect()
        })
    };
    let spawn = || spawn_sesame(&args);
    // Life 0 is killed at a random moment of its start-up; lives 2, 4, 6 0–40 ms after they have written a new
    // checkpoint (inside the next update); lives 1, 3, 5 0–2 ms after a checkpoint's temporary directory appears
    // (inside the write). Each life makes progress, and the number of kills does not depend on the machine's
    // speed. The last life runs to the end.
    const KILLED_LIVES: usize = 7;
    let (mut kills, mut during_write) = (0, 0);
    for life in 0..=KILLED_LIVES {
        let mut child = spawn();
        if life == KILLED_LIVES {
            let out = child.wait_with_output().expect("output");
            assert!(out.status.success(), "last life: {}", stderr(&out));
            break;
        }
        let (before, stale) = (latest(), writing());
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut kill_at = (life == 0).then(|| {
            Instant::now() + Duration::from_secs_f64(0.1 * reference.seconds * uniform(&mut rng))
        });
        let finished = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            let now = Instant::now();
            if kill_at.is_some_and(|at| now >= at) {
                break None;
            }
            if kill_at.is_none() {
                if life % 2 == 1 && !writing().iter().all(|tmp| stale.contains(tmp)) {
                    kill_at = Some(now + Duration::from_secs_f64(0.002 * uniform(&mut rng)));
                } else if life % 2 == 0 && latest() != before {
                    kill_at = Some(now + Duration::from_secs_f64(0.04 * uniform(&mut rng)));
                }
            }
            assert!(now < deadline, "life {life} made no checkpoint in 120 s");
            std::thread::sleep(Duration::from_millis(1));
        };
        if let Some(status) = finished {
            // It finished before its kill: nothing left to interrupt.
            let out = child.wait_with_output().expect("output");
            assert!(status.success(), "life {life}: {}", stderr(&out));
            break;
        }
        child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
        let _ = child.wait();
        kills += 1;
        // A temporary directory this life wrote and did not finish: the kill landed inside a checkpoint write.
        if writing().iter().any(|tmp| !stale.contains(tmp)) {
            during_write += 1;
        }
    }
    eprintln!("killed {kills} times, {during_write} of them inside a checkpoint write");
    assert!(
        kills >= 5,
        "only {kills} kills landed before the run finished; the test did not test much"
    );
    assert!(
        during_write >= 1,
        "no kill landed inside a checkpoint write (SESAME_KILL_SEED={seed})"
    );
    assert!(dir.join("report.json").exists());
    assert_same_run(&reference.dir, &dir, "killed and resumed run");
}

#[test]
fn a_full_disk_during_a_checkpoint_leaves_the_previous_one_loadable() {
    let reference = reference();
    let scratch = temp_dir("crash-full-disk");
    let root = scratch.path();
    let mount = root.join("tmpfs");
    let saved = root.join("saved");
    std::fs::create_dir_all(&mount).expect("mount point");
    // Room for one checkpoint and a half: the first fits, the second runs out of space mid-write.
    let size = reference.checkpoint_bytes * 3 / 2 + 64 * 1024;
    let run = mount.join("run");
    let quoted: Vec<String> = finetune_args(&run, &[])
        .into_iter()
        .map(|a| format!("'{a}'"))
        .collect();
    // A private mount namespace (user namespace: no root needed) with a small tmpfs; the run's directory is
    // copied out before the namespace and its tmpfs disappear.
    let script = format!(
        "mount -t tmpfs -o size={size} tmpfs '{mount}' || exit 90; \
         '{bin}' {args} 2> '{root}/stderr'; echo $? > '{root}/rc'; cp -a '{run}' '{saved}'",
        mount = s(&mount),
        bin = env!("CARGO_BIN_EXE_sesame"),
        args = quoted.join(" "),
        root = s(root),
        run = s(&run),
        saved = s(&saved),
    );
    let status = Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", &script])
        .status()
        .expect("`unshare` (util-linux) runs; this test needs it to mount a small tmpfs");
    assert!(
        status.success(),
        "could not mount a tmpfs in a user namespace (exit {status}); this test needs unprivileged user \
         namespaces or root"
    );
    let rc: i32 = std::fs::read_to_string(root.join("rc"))
        .expect("rc")
        .trim()
        .parse()
        .expect("exit code");
    let message = std::fs::read_to_string(root.join("stderr")).expect("stderr");
    assert_ne!(rc, 0, "a full disk must fail the run: {message}");
    assert!(
        message.contains("cannot write") && message.contains("No space left on device"),
        "{message}"
    );
    assert!(
        message.contains(".checkpoint-2.tmp"),
        "names the path: {message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    eprintln!("full-disk error: {}", message.trim());
    assert_eq!(
        std::fs::read_to_string(saved.join("checkpoints/LATEST")).expect("LATEST"),
        "checkpoint-1"
    );
    // The surviving checkpoint is complete: resuming from it on a roomy disk ends as the uninterrupted run.
    let out = finetune(&saved, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_run(&reference.dir, &saved, "run resumed after a full disk");
}

#[test]
fn a_finished_run_is_not_overwritten() {
    let scratch = temp_dir("crash-overwrite");
    let dir = scratch.path().join("run");
    let out = finetune(&dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = snapshot(&dir);

    // The same command again, or another seed: refused, every file unchanged.
    for extra in [&[][..], &["--seed", "7"]] {
        let out = finetune(&dir, extra);
        let message = stderr(&out);
        assert!(!out.status.success());
        assert!(
            message.contains("already holds a finished run")
                && message.contains("--overwrite-output-dir"),
            "{message}"
        );
        assert!(snapshot(&dir) == before, "the finished run's files changed");
    }
    // --resume with another recipe names the setting that differs.
    let out = finetune(&dir, &["--seed", "7", "--resume"]);
    let message = stderr(&out);
    assert!(!out.status.success());
    assert!(
        message.contains("another configuration") && message.contains("recipe.seed: 42 → 7"),
        "{message}"
    );
    assert!(snapshot(&dir) == before, "the finished run's files changed");
    // --resume of the finished run itself has nothing to do and says so.
    let out = finetune(&dir, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already finished"),
        "{}",
        stderr(&out)
    );
    assert!(snapshot(&dir) == before, "the finished run's files changed");
    // --overwrite-output-dir replaces it.
    let out = finetune(&dir, &["--overwrite-output-dir", "--seed", "7"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(snapshot(&dir) != before);
}

#[test]
fn resume_without_a_checkpoint_is_an_error() {
    let scratch = temp_dir("crash-no-checkpoint");
    let dir = scratch.path().join("run");
    let out = finetune(&dir, &["--resume"]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("no checkpoint to resume from")
            && message.contains("--resume-if-possible"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

/// ELECTRA's weights and tokenizer under a config that says BERT, in `root/mislabelled`: none of the names the
/// BERT layout expects (`embeddings.*` or `bert.embeddings.*`) is in the file.
fn mislabelled_electra(root: &Path) -> PathBuf {
    let electra = shared_dir().join("models/tiny-electra");
    let mislabelled = root.join("mislabelled");
    std::fs::create_dir_all(&mislabelled).expect("dir");
    for entry in std::fs::read_dir(&electra).expect("tiny-electra") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), mislabelled.join(entry.file_name())).expect("copy");
    }
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(electra.join("config.json")).expect("config"),
    )
    .expect("json");
    config["model_type"] = "bert".into();
    config
        .as_object_mut()
        .expect("object")
        .remove("embedding_size");
    std::fs::write(mislabelled.join("config.json"), config.to_string()).expect("config");
    mislabelled
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused() {
    let scratch = temp_dir("crash-other-layout");
    let root = scratch.path();
    let mislabelled = mislabelled_electra(root);
    let texts = root.join("pairs.tsv");
    let encoded = root.join("encoded.safetensors");
    std::fs::write(&texts, "sentence1\tsentence2\na b\tc d\n").expect("write");
    let encode = |extra: &[&str]| {
        let mut args = vec![
            "encode",
            "--model",
            s(&mislabelled),
            "--input",
            s(&texts),
            "--output",
            s(&encoded),
        ];
        args.extend_from_slice(extra);
        sesame(&args)
    };
    let out = encode(&[]);
    let message = stderr(&out);
    assert!(!out.status.success());
    assert!(
        message.contains("lacks") && message.contains("--allow-missing-weights"),
        "{message}"
    );
    // The unused ELECTRA names are offered as the closest ones.
    assert!(message.contains("electra."), "{message}");
    eprintln!("encode: {}", message.trim());
    // Accepted on request, with a warning naming what starts random.
    let out = encode(&["--allow-missing-weights"]);
    let message = stderr(&out);
    assert!(out.status.success(), "{message}");
    assert!(
        message.contains("warning: 39 parameter(s) missing")
            && message.contains("note: no logits written"),
        "{message}"
    );

    let f = fixture();
    let out = sesame(&[
        "finetune",
        "--task",
        "rte",
        "--model",
        s(&mislabelled),
        "--data-dir",
        s(&f.glue),
        "--output-dir",
        s(&root.join("run")),
    ]);
    let message = stderr(&out);
    assert!(!out.status.success());
    assert!(
        message.contains("lacks") && message.contains("--allow-missing-weights"),
        "{message}"
    );
    assert!(
        !root.join("run").exists(),
        "nothing written for a refused model"
    );
}

#[test]
fn a_classifier_fine_tuned_elsewhere_evaluates_given_its_task() {
    let electra = shared_dir().join("models/tiny-electra");
    let f = fixture();
    let out = sesame(&["evaluate", "--model", s(&electra), "--data-dir", s(&f.glue)]);
    let message = stderr(&out);
    assert!(!out.status.success());
    assert!(
        message.contains("finetuning_task") && message.contains("--task"),
        "{message}"
    );
    let out = sesame(&[
        "evaluate",
        "--model",
        s(&electra),
        "--task",
        "rte",
        "--data-dir",
        s(&f.glue),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("evaluate prints JSON");
    assert!(report["metrics"]["accuracy"].as_f64().is_some(), "{report}");
    // A directory that is neither a sesame export nor a fine-tuned classifier says so.
    let scratch = temp_dir("crash-no-model");
    let out = sesame(&[
        "evaluate",
        "--model",
        s(&scratch.path().join("missing")),
        "--task",
        "rte",
        "--data-dir",
        s(&f.glue),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no such model directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_export_with_another_architectures_weights_lists_every_missing_name() {
    let electra = shared_dir().join("models/tiny-electra");
    let f = fixture();
    let scratch = temp_dir("crash-swapped-weights");
    let reference = reference();
    let swapped = scratch.path().join("swapped");
    std::fs::create_dir_all(&swapped).expect("dir");
    for entry in std::fs::read_dir(reference.dir.join("best")).expect("best") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), swapped.join(entry.file_name())).expect("copy");
    }
    std::fs::copy(
        electra.join("model.safetensors"),
        swapped.join("model.safetensors"),
    )
    .expect("copy");
    let out = sesame(&["evaluate", "--model", s(&swapped), "--data-dir", s(&f.glue)]);
    let message = stderr(&out);
    assert!(!out.status.success());
    assert!(
        message.contains("lacks") && message.contains("embeddings.word_embeddings.weight"),
        "{message}"
    );
}

/// Files whose bytes depend on the wall clock (durations, throughput), never equal between two runs.
const TIMED: [&str; 6] = [
    "report.json",
    "eval_results.json",
    "metrics.jsonl",
    "trainer_state.json",
    "train_results.json",
    "all_results.json",
];

/// `bytes` with every occurrence of `from` replaced by `to`.
fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Whether `path` (relative to a run directory) holds wall-clock figures.
fn timed(path: &Path) -> bool {
    TIMED.iter().any(|t| path == Path::new(t))
        || path.file_name().is_some_and(|n| n == "state.json")
}

// Long: one scenario with two processes raced on one directory, then the outcome against a run made alone.
#[test]
fn two_processes_on_one_run_directory_one_runs_the_other_names_it() {
    let reference = reference();
    let scratch = temp_dir("crash-lock");
    let dir = scratch.path().join("run");
    let args = finetune_args(&dir, &[]);
    let spawn = || spawn_sesame(&args);
    let (a, b) = (spawn(), spawn());
    let ids = [a.id(), b.id()];
    let outs = [
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    ];
    let ok: Vec<usize> = (0..2).filter(|&i| outs[i].status.success()).collect();
    assert_eq!(
        ok.len(),
        1,
        "exactly one of two processes on one directory runs:\n{}\n---\n{}",
        stderr(&outs[0]),
        stderr(&outs[1])
    );
    let (winner, loser) = (ok[0], 1 - ok[0]);
    let refusal = stderr(&outs[loser]);
    assert_eq!(outs[loser].status.code(), Some(1), "{refusal}");
    assert!(
        refusal.contains(&format!("is in use by process {}", ids[winner]))
            && refusal.contains(s(&dir)),
        "the refusal names the directory and the holder: {refusal}"
    );
    assert!(!refusal.contains("panicked"), "{refusal}");

    // The directory is the winner's alone: the same files as a run made alone, byte for byte except the
    // wall-clock figures, whose records must still parse.
    let (alone, raced) = (snapshot(&reference.dir), snapshot(&dir));
    let names = |m: &BTreeMap<PathBuf, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&raced), names(&alone), "the raced directory's files");
    // config.json records the output directory: the lone run's path stands for this one's.
    let (alone_path, raced_path) = (s(&reference.dir).as_bytes(), s(&dir).as_bytes());
    for (path, bytes) in &raced {
        if timed(path) {
            continue;
        }
        let expected = replace_bytes(&alone[path], alone_path, raced_path);
        assert!(
            bytes == &expected,
            "{} differs from a run made alone",
            path.display()
        );
    }
    assert_same_run(&reference.dir, &dir, "the run that held the directory");

    // A reader needs no lock, and a finished run's lock file is empty.
    assert!(std::fs::read(dir.join(".lock"))
        .expect("lock file")
        .is_empty());
}
