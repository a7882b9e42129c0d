//! Helpers shared by the tests of every sesame crate: where `../shared` is, how to read golden safetensors
//! files, the CPU backend the parity tests run on, scratch folders, the toy training set, and the guard over
//! burn's random streams that lets the tests of a crate share one binary.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use burn::tensor::{Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use sesame_core::{
    BertConfig, BertInput, BertTokenizer, EncodedBatch, MissingWeights, SequenceClassifier,
    SesameConfig,
};

pub mod gradient_cases;
pub mod modern_cases;

/// The scratch folders' type ([`temp_dir`]), so that no crate's tests need their own `tempfile` dependency.
pub use tempfile::TempDir;

/// The CPU reference backend of the parity tests and gradient checks (f32), whatever backend features the
/// workspace is built with.
pub type CpuBackend = burn::backend::NdArray<f32>;
/// The same with automatic differentiation, for training tests.
pub type CpuAutodiff = burn::backend::Autodiff<CpuBackend>;

/// burn's backends draw random numbers from one process-wide stream each: `Backend::seed` resets it, and every
/// random initialisation (and, on the GPU backends, every dropout mask) draws from it. The tests of a crate run as
/// threads of one binary, so a test that seeds a stream, or builds anything with random weights, holds this guard
/// for as long as it draws: otherwise a test beside it would reseed its stream or consume its draws.
pub fn random_streams() -> MutexGuard<'static, ()> {
    static STREAMS: Mutex<()> = Mutex::new(());
    // A test that failed while holding the guard leaves the streams usable: the next holder reseeds.
    STREAMS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A fresh, empty scratch folder named after `name` (unique, so tests running side by side never share one),
/// removed when the returned value is dropped.
pub fn temp_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sesame-{name}-"))
        .tempdir()
        .expect("a scratch folder in the system's temp folder")
}

/// The shared folder: `$SESAME_SHARED`, else `../shared` beside the repository (as in CI).
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("SESAME_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    assert!(
        dir.join("golden").is_dir(),
        "shared folder not found at {} (set SESAME_SHARED)",
        dir.display()
    );
    dir
}

pub fn minilm_dir() -> PathBuf {
    shared_dir().join("models/all-MiniLM-L6-v2")
}

pub fn minilm_f16_dir() -> PathBuf {
    shared_dir().join("models/all-MiniLM-L6-v2-f16")
}

/// A golden file (or any safetensors file) held in memory.
pub struct Golden {
    bytes: Vec<u8>,
}

impl Golden {
    /// Safetensors bytes already in memory (e.g. what an exporter returned).
    pub fn from_bytes(bytes: Vec<u8>) -> Golden {
        Golden { bytes }
    }

    /// Every tensor's name and shape, sorted by name.
    pub fn shapes(&self) -> std::collections::BTreeMap<String, Vec<usize>> {
        self.st()
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec()))
            .collect()
    }

    /// Every F32 tensor's name and values, sorted by name.
    pub fn all_f32(&self) -> Vec<(String, Vec<f32>)> {
        let shapes = self.shapes();
        shapes
            .keys()
            .map(|name| (name.clone(), self.f32(name).1))
            .collect()
    }

    pub fn open(name: &str) -> Golden {
        Self::from_path(&shared_dir().join("golden").join(name))
    }

    /// Any safetensors file, e.g. one `sesame encode` wrote.
    pub fn from_path(path: &std::path::Path) -> Golden {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Golden { bytes }
    }

    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("golden file parses")
    }

    pub fn names(&self) -> Vec<String> {
        self.st().names().into_iter().map(str::to_owned).collect()
    }

    pub fn metadata(&self, key: &str) -> String {
        let (_, meta) = SafeTensors::read_metadata(&self.bytes).expect("header");
        meta.metadata()
            .as_ref()
            .and_then(|m| m.get(key).cloned())
            .unwrap_or_else(|| panic!("golden metadata has no `{key}`"))
    }

    pub fn f32(&self, name: &str) -> (Vec<usize>, Vec<f32>) {
        let st = self.st();
        let view = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("golden tensor {name}"));
        assert_eq!(view.dtype(), Dtype::F32, "{name}");
        let data = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (view.shape().to_vec(), data)
    }

    pub fn i64(&self, name: &str) -> (Vec<usize>, Vec<i64>) {
        let st = self.st();
        let view = st
            .tensor(name)
            .unwrap_or_else(|_| panic!("golden tensor {name}"));
        assert_eq!(view.dtype(), Dtype::I64, "{name}");
        let data = view
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        (view.shape().to_vec(), data)
    }

    /// The model input stored in the file, on the CPU backend.
    pub fn input(&self) -> BertInput<CpuBackend> {
        self.input_on(&Default::default())
    }

    /// The model input stored in the file, on `device` of any backend.
    pub fn input_on<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> BertInput<B> {
        self.input_named("", device)
    }

    /// The model input stored under `prefix` (`modernbert.` for `modernbert.input_ids`, …), on `device`; token
    /// types 0 where the file has none (ModernBERT's tokenizer makes none).
    pub fn input_named<B: burn::tensor::backend::Backend>(
        &self,
        prefix: &str,
        device: &B::Device,
    ) -> BertInput<B> {
        let tensor = |name: &str| {
            let (shape, data) = self.i64(&format!("{prefix}{name}"));
            Tensor::<B, 2, Int>::from_data(TensorData::new(data, [shape[0], shape[1]]), device)
        };
        let attention_mask = tensor("attention_mask");
        let has_types = self.names().contains(&format!("{prefix}token_type_ids"));
        BertInput {
            input_ids: tensor("input_ids"),
            token_type_ids: if has_types {
                tensor("token_type_ids")
            } else {
                attention_mask.zeros_like()
            },
            attention_mask,
        }
    }
}

/// The random-weight classifier `../shared/models/<name>` (`tiny-modernbert`, `tiny-deberta-v3`, …) as a
/// plain-variant [`SequenceClassifier`] with two labels: every parameter, head included, from the file, and
/// every file tensor used.
pub fn tiny_classifier(name: &str) -> SequenceClassifier<CpuBackend> {
    let (model, report) = SequenceClassifier::from_pretrained(
        shared_dir().join("models").join(name),
        &SesameConfig::baseline(2),
        MissingWeights::Refuse,
        &Default::default(),
    )
    .expect(name);
    assert!(
        report.missing.is_empty() && report.fresh.is_empty(),
        "{name}: missing {:?}, fresh {:?}",
        report.missing,
        report.fresh
    );
    assert!(
        report.unexpected.is_empty(),
        "{name}: unexpected {:?}",
        report.unexpected
    );
    model
}

/// Max |a − b| over positions where the row mask (per `[B, n]` row of width `d`) is 1 and where it is 0.
pub fn masked_max_diff(a: &[f32], b: &[f32], mask: &[i64], d: usize) -> (f32, f32) {
    assert_eq!(a.len(), b.len(), "length mismatch");
    assert_eq!(a.len(), mask.len() * d, "mask does not match the tensor");
    let (mut real, mut pad) = (0f32, 0f32);
    for (row, m) in mask.iter().enumerate() {
        let diff = a[row * d..(row + 1) * d]
            .iter()
            .zip(&b[row * d..(row + 1) * d])
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff.is_finite(), "non-finite difference at row {row}");
        if *m == 1 {
            real = real.max(diff);
        } else {
            pad = pad.max(diff);
        }
    }
    (real, pad)
}

/// Max |a − b|.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, |m, d| {
            assert!(d.is_finite(), "non-finite difference");
            m.max(d)
        })
}

/// 24 short token sequences of a toy task for the 60-token [`tiny_config`] vocabulary, each with its class:
/// whether the first content token is below 30. A learnable set for training tests.
pub fn toy_pairs() -> Vec<(sesame_core::Encoded, usize)> {
    (0..24u32)
        .map(|i| {
            let a = 5 + (i * 7) % 50;
            let len = 3 + (i % 4);
            let mut ids = vec![1, a];
            ids.extend((0..len).map(|k| 5 + (a + k * 3) % 50));
            ids.push(2);
            let n = ids.len();
            let encoded = sesame_core::Encoded {
                input_ids: ids,
                token_type_ids: vec![0; n],
            };
            (encoded, usize::from(a < 30))
        })
        .collect()
}

/// [`toy_pairs`] as a labelled training set.
pub fn toy_set() -> sesame_train::batching::TokenizedSet {
    toy_pairs()
        .into_iter()
        .map(|(encoded, class)| (encoded, sesame_train::Label::Class(class)))
        .collect()
}

/// The attention of the blur goldens (`blur_{context,value}_k3_s0.5.*` in `minilm_public_variants`): a 3-tap
/// Gaussian of σ = 0.5 on `target`, mirrored at the padded end as in the reference code.
pub fn golden_blur(target: sesame_core::BlurTarget) -> sesame_core::AttentionConfig {
    sesame_core::AttentionConfig {
        blur: Some(sesame_core::BlurConfig {
            target,
            kernel_size: 3,
            sigma: 0.5,
            boundary: sesame_core::BlurBoundary::PaddedEnd,
            layers: None,
        }),
        ..sesame_core::AttentionConfig::default()
    }
}

/// A 2-layer, 32-wide BERT with a 60-token vocabulary, for training tests.
pub fn tiny_config() -> BertConfig {
    let mut c = BertConfig::with_shape(2, 32, 4, 64);
    c.vocab_size = 60;
    c.max_position_embeddings = 32;
    c
}

/// Writes a small random-weight BERT (2 layers, 32 wide) with MiniLM's tokenizer into `dir` as a Hugging
/// Face model directory: training steps take milliseconds and checkpoints a few MB, so tests can train, kill
/// and resume many times. The weights are a function of `seed`.
pub fn write_tiny_bert(dir: &std::path::Path, seed: u64) {
    use burn::tensor::backend::Backend;
    std::fs::create_dir_all(dir).expect("model dir");
    let mut config = BertConfig::with_shape(2, 32, 4, 64);
    config.max_position_embeddings = 128;
    let device = Default::default();
    let _streams = random_streams();
    CpuBackend::seed(&device, seed);
    let model = sesame_core::BertModel::<CpuBackend>::new(
        &config,
        &sesame_core::AttentionConfig::default(),
        &device,
    )
    .expect("tiny model");
    let bytes = sesame_core::io::weights::to_safetensors(&model, model.config().family(), |_| true)
        .expect("serialise")
        .expect("parameters");
    std::fs::write(dir.join(sesame_core::io::WEIGHTS_FILE), bytes).expect("write weights");
    let json = serde_json::to_string_pretty(&config).expect("config json");
    std::fs::write(dir.join(sesame_core::io::CONFIG_FILE), json).expect("write config");
    for name in [
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
    ] {
        std::fs::copy(minilm_dir().join(name), dir.join(name)).expect("copy tokenizer file");
    }
}

/// Copies the directory tree `from` into `to` (created), files and folders alike.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Copies the header and the first `rows` data lines of a text file (a small slice of a GLUE file).
pub fn head_lines(from: &std::path::Path, to: &std::path::Path, rows: usize) {
    let text = std::fs::read_to_string(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    let kept: String = text
        .lines()
        .take(rows + 1)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(to, kept).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
}

/// The logits of `model` on two fixed sentence pairs, tokenised with the tokenizer in `tokenizer_dir`: a quick
/// fingerprint for "the same model after saving and loading".
pub fn two_pair_logits(
    model: &SequenceClassifier<CpuBackend>,
    tokenizer_dir: &std::path::Path,
) -> Vec<f32> {
    let tokenizer = BertTokenizer::from_dir(tokenizer_dir, 128).expect("tokenizer");
    let encoded: Vec<_> = [
        ("A man is playing a guitar.", "Someone plays music."),
        ("It rains.", "The sun is out."),
    ]
    .iter()
    .map(|(a, b)| tokenizer.encode(a, Some(b)).expect("encode"))
    .collect();
    let batch = EncodedBatch::pad(&encoded, tokenizer.pad_id(), 0);
    let out = model
        .forward(batch.to_input(&Default::default()))
        .expect("forward");
    out.logits.into_data().to_vec::<f32>().expect("f32")
}
