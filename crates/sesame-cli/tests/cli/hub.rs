//! `--model` as a Hub id, end to end against a small HTTP server on 127.0.0.1 that serves
//! `../shared/models/tiny-roberta` the way the Hub does (`/{repo}/resolve/{revision}/{file}`, ranged GETs,
//! `ETag` and `X-Repo-Commit` headers, 404 for absent files): a download into a fresh cache, a second run served
//! from the cache with the server stopped, and the offline error on an empty cache.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use sesame_cli::hub::HubId;
use sesame_testkit::{shared_dir, temp_dir};

use crate::common::sesame_command;

const REPO: &str = "test-org/tiny-roberta";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A Hub stand-in serving one model directory as one repository; stops when dropped.
struct HubServer {
    endpoint: String,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HubServer {
    fn start(repo: &str, model: PathBuf) -> HubServer {
        let repo = repo.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        requests2.fetch_add(1, Ordering::SeqCst);
                        stream.set_nonblocking(false).expect("blocking");
                        serve(stream, &repo, &model);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        HubServer {
            endpoint,
            stop,
            requests,
            thread: Some(thread),
        }
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request: `GET /{repo}/resolve/{rev}/{file}` with an optional `Range: bytes=a-[b]`.
fn serve(stream: TcpStream, repo: &str, model: &Path) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut range: Option<(u64, Option<u64>)> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = value.trim().split_once('-').unwrap_or(("0", ""));
            range = Some((a.parse().unwrap_or(0), b.parse().ok()));
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let prefix = format!("/{repo}/resolve/");
    let file = path
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split_once('/'))
        .map(|(_, file)| model.join(file));
    let mut stream = stream;
    let Some(bytes) = file
        .filter(|f| f.is_file())
        .and_then(|f| std::fs::read(f).ok())
    else {
        let _ = stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Error-Code: EntryNotFound\r\nConnection: close\r\n\r\n",
        );
        return;
    };
    let size = bytes.len() as u64;
    let (start, end) = match range {
        Some((a, b)) => (a.min(size), b.map_or(size, |b| (b + 1).min(size))),
        None => (0, size),
    };
    let body = &bytes[start as usize..end as usize];
    let etag = format!("{:016x}{:016x}", size, fnv(&bytes));
    let status = if range.is_some() {
        "206 Partial Content"
    } else {
        "200 OK"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{size}\r\n\
         ETag: \"{etag}\"\r\nX-Repo-Commit: {COMMIT}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
        body.len(),
        end.saturating_sub(1),
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// FNV-1a, for stable per-file ETags.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

fn sesame(args: &[&str], env: &[(&str, &Path)], offline: bool) -> Output {
    let mut command = sesame_command();
    command
        .args(args)
        .env_remove("HF_ENDPOINT")
        .env_remove("HF_HUB_OFFLINE");
    for (k, v) in env {
        command.env(k, v);
    }
    if offline {
        command.env("HF_HUB_OFFLINE", "1");
    }
    command.output().expect("run sesame")
}

fn encode_args<'a>(input: &'a str, output: &'a str) -> Vec<&'a str> {
    vec![
        "encode", "--model", REPO, "--input", input, "--output", output,
    ]
}

#[test]
fn a_hub_id_downloads_into_the_cache_then_works_from_it() {
    let scratch = temp_dir("hub");
    let root = scratch.path();
    let input = root.join("pairs.tsv");
    std::fs::write(
        &input,
        "sentence1\tsentence2\nA man plays.\tSomeone plays music.\n",
    )
    .expect("input");
    let (input, output) = (input.display().to_string(), root.join("out.safetensors"));
    let output_str = output.display().to_string();
    let cache = root.join("cache");
    let home = root.join("home");

    let server = HubServer::start(REPO, shared_dir().join("models/tiny-roberta"));
    let endpoint = PathBuf::from(&server.endpoint);
    let env = [
        ("HF_ENDPOINT", endpoint.as_path()),
        ("HF_HUB_CACHE", cache.as_path()),
        ("HF_HOME", home.as_path()),
    ];
    let out = sesame(&encode_args(&input, &output_str), &env, false);
    let message = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "download: {message}");
    assert!(server.requests.load(Ordering::SeqCst) > 0);
    let snapshot = cache
        .join("models--test-org--tiny-roberta/snapshots")
        .join(COMMIT);
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        let cached = std::fs::read(snapshot.join(file)).expect(file);
        let original =
            std::fs::read(shared_dir().join("models/tiny-roberta").join(file)).expect(file);
        assert!(cached == original, "{file} differs from the served file");
    }
    let last_layer = |path: &Path| {
        sesame_testkit::Golden::from_path(path)
            .f32("hidden_states.2")
            .1
    };
    let first = last_layer(&output);
    drop(server);

    // The server is gone: the cache serves the same files.
    std::fs::remove_file(&output).expect("rm");
    let out = sesame(&encode_args(&input, &output_str), &env, false);
    assert!(
        out.status.success(),
        "from the cache: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last_layer(&output), first);

    // Offline on an empty cache: an error naming what is missing and why only the cache was read.
    let empty = root.join("empty-cache");
    let env = [
        ("HF_ENDPOINT", endpoint.as_path()),
        ("HF_HUB_CACHE", empty.as_path()),
        ("HF_HOME", home.as_path()),
    ];
    let out = sesame(&encode_args(&input, &output_str), &env, true);
    let message = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(
        message.contains("config.json, model.safetensors, tokenizer.json or vocab.txt missing")
            && message.contains("HF_HUB_OFFLINE"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

/// The Hub ids of the released ModernBERT and DeBERTa-v3 checkpoints, served from the tiny models of those
/// architectures: each downloads and encodes to what the local directory gives.
#[test]
fn modernbert_and_deberta_hub_ids_download_and_encode() {
    let scratch = temp_dir("hub-modern");
    let root = scratch.path();
    let input = root.join("pairs.tsv");
    std::fs::write(
        &input,
        "sentence1\tsentence2\nA man plays.\tSomeone plays music.\n",
    )
    .expect("input");
    let input = input.display().to_string();
    let (cache, home) = (root.join("cache"), root.join("home"));
    for (repo, dir) in [
        ("answerdotai/ModernBERT-base", "tiny-modernbert"),
        ("microsoft/deberta-v3-base", "tiny-deberta-v3"),
    ] {
        let server = HubServer::start(repo, shared_dir().join("models").join(dir));
        let endpoint = PathBuf::from(&server.endpoint);
        let env = [
            ("HF_ENDPOINT", endpoint.as_path()),
            ("HF_HUB_CACHE", cache.as_path()),
            ("HF_HOME", home.as_path()),
        ];
        let output = root
            .join(format!("{dir}-hub.safetensors"))
            .display()
            .to_string();
        let out = sesame(
            &[
                "encode", "--model", repo, "--input", &input, "--output", &output,
            ],
            &env,
            false,
        );
        assert!(
            out.status.success(),
            "{repo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(server.requests.load(Ordering::SeqCst) > 0, "{repo}");
        let local_dir = shared_dir().join("models").join(dir).display().to_string();
        let local = root
            .join(format!("{dir}-local.safetensors"))
            .display()
            .to_string();
        let out = sesame(
            &[
                "encode", "--model", &local_dir, "--input", &input, "--output", &local,
            ],
            &[],
            false,
        );
        assert!(out.status.success(), "{dir}");
        let logits = |path: &str| {
            sesame_testkit::Golden::from_path(Path::new(path))
                .f32("logits")
                .1
        };
        assert_eq!(logits(&output), logits(&local), "{repo}");
    }
}

#[test]
fn ids_and_paths_are_told_apart() {
    let id = |s: &str| HubId::parse(s);
    assert_eq!(
        id("roberta-base"),
        Some(HubId {
            repo: "roberta-base".into(),
            revision: "main".into()
        })
    );
    assert_eq!(
        id("FacebookAI/xlm-roberta-base@v1.0"),
        Some(HubId {
            repo: "FacebookAI/xlm-roberta-base".into(),
            revision: "v1.0".into()
        })
    );
    for path in [
        "/abs/model",
        "../shared/models/x",
        "./m",
        "a/b/c",
        "x@",
        "",
        "a//b",
    ] {
        assert_eq!(id(path), None, "{path}");
    }
}
