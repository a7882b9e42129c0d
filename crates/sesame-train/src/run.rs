//! The run directory: resolved config, `metrics.jsonl`, checkpoints written so that a crash never leaves a
//! half-written one in place of the last good one.
//!
//! ```text
//! RUN/config.json                 resolved settings of the run
//! RUN/metrics.jsonl               one JSON object per logged step and per evaluation, appended and flushed
//! RUN/checkpoints/LATEST          name of the newest complete checkpoint (replaced atomically)
//! RUN/checkpoints/epoch-K/        model.safetensors, optimizer.safetensors, state.json
//! RUN/best/                       the best model on dev, as a Hugging Face directory (see export.rs)
//! RUN/final_metrics.json, RUN/predictions_dev.tsv
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::TrainError;
use crate::fsio::write_atomic;

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Opens (creating if needed) a run directory.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, TrainError> {
        let path = path.into();
        std::fs::create_dir_all(path.join("checkpoints"))
            .map_err(|e| TrainError::run(&path, format!("cannot create the run directory: {e}")))?;
        Ok(RunDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes pretty JSON atomically.
    pub fn write_json(&self, name: &str, value: &impl serde::Serialize) -> Result<(), TrainError> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| TrainError::run(self.file(name), e.to_string()))?;
        write_atomic(&self.file(name), text.as_bytes())?;
        Ok(())
    }

    /// Appends one line to `metrics.jsonl` and flushes it.
    pub fn log(&self, value: &serde_json::Value) -> Result<(), TrainError> {
        let path = self.file("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::run(&path, e.to_string()))?;
        writeln!(f, "{value}")
            .and_then(|_| f.flush())
            .map_err(|e| TrainError::run(&path, e.to_string()))
    }

    /// The newest complete checkpoint, if any. A `LATEST` that names a missing directory is an error.
    pub fn latest_checkpoint(&self) -> Result<Option<PathBuf>, TrainError> {
        let pointer = self.path.join("checkpoints/LATEST");
        if !pointer.exists() {
            return Ok(None);
        }
        let name = std::fs::read_to_string(&pointer)
            .map_err(|e| TrainError::run(&pointer, e.to_string()))?;
        let dir = self.path.join("checkpoints").join(name.trim());
        if !dir.is_dir() || name.trim().is_empty() || name.contains('/') {
            return Err(TrainError::run(
                &pointer,
                format!("names checkpoint `{}`, which does not exist", name.trim()),
            ));
        }
        Ok(Some(dir))
    }

    /// Writes a checkpoint as `checkpoints/<name>/` (every file fsynced), then points `LATEST` at it, then
    /// removes older checkpoints. A crash at any point leaves the previous checkpoint intact and named.
    pub fn save_checkpoint(
        &self,
        name: &str,
        files: &[(&str, Vec<u8>)],
    ) -> Result<PathBuf, TrainError> {
        let root = self.path.join("checkpoints");
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| TrainError::run(&dir, e.to_string()))?;
        for (file, bytes) in files {
            write_atomic(&dir.join(file), bytes)?;
        }
        write_atomic(&root.join("LATEST"), name.as_bytes())?;
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() && p != dir {
                    let _ = std::fs::remove_dir_all(p);
                }
            }
        }
        Ok(dir)
    }

    /// Replaces directory `name` with the files produced by `write` into a fresh temporary directory.
    pub fn replace_dir(
        &self,
        name: &str,
        write: impl FnOnce(&Path) -> Result<(), TrainError>,
    ) -> Result<PathBuf, TrainError> {
        let target = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        let old = self.path.join(format!(".{name}.old"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| TrainError::run(&tmp, e.to_string()))?;
        write(&tmp)?;
        let _ = std::fs::remove_dir_all(&old);
        if target.exists() {
            std::fs::rename(&target, &old).map_err(|e| TrainError::run(&target, e.to_string()))?;
        }
        std::fs::rename(&tmp, &target).map_err(|e| TrainError::run(&target, e.to_string()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(target)
    }
}
