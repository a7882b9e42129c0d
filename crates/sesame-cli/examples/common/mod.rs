//! What the examples share: by default the MiniLM checkpoint and the GLUE data of `../shared` beside the
//! repository (`--model`/`SESAME_MODEL` and `--data-dir`/`SESAME_GLUE` point elsewhere).

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct SharedData {
    /// Hugging Face model directory.
    #[arg(long, env = "SESAME_MODEL", default_value_os_t = shared().join("models/all-MiniLM-L6-v2"))]
    pub model: PathBuf,
    /// GLUE folder, one subfolder per task (RTE/train.tsv, RTE/dev.tsv, …).
    #[arg(long, env = "SESAME_GLUE", default_value_os_t = shared().join("data/glue"))]
    pub data_dir: PathBuf,
}

/// `../shared` beside the repository.
fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}
