//! The run directory on disk: files written atomically, checkpoints that are complete or invisible, and the
//! typed records of `super::records` read and written by name.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::records::{MetricsLine, RunReport};
use crate::error::TrainError;
use crate::fsio::{write_atomic, write_json_atomic};

/// The resolved job of the run.
pub const CONFIG: &str = "config.json";
/// What a finished run achieved; its presence marks the run as complete.
pub const REPORT: &str = "report.json";
/// Training and evaluation log, one JSON object a line.
pub const METRICS: &str = "metrics.jsonl";
/// Dev metrics of every epoch.
pub const FINAL_METRICS: &str = "final_metrics.json";

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
        write_json_atomic(&self.file(name), value, true)
    }

    /// Reads a JSON record written by [`RunDir::write_json`].
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T, TrainError> {
        let path = self.file(name);
        let text =
            std::fs::read_to_string(&path).map_err(|e| TrainError::run(&path, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| TrainError::run(&path, e.to_string()))
    }

    /// `report.json`, or `None` while the run has not finished.
    pub fn report(&self) -> Result<Option<RunReport>, TrainError> {
        if !self.file(REPORT).exists() {
            return Ok(None);
        }
        self.read_json(REPORT).map(Some)
    }

    /// Every line of `metrics.jsonl`, in order; a bad line is an error naming its line number.
    pub fn metrics(&self) -> Result<Vec<MetricsLine>, TrainError> {
        let path = self.file(METRICS);
        let text =
            std::fs::read_to_string(&path).map_err(|e| TrainError::run(&path, e.to_string()))?;
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| TrainError::run(&path, format!("line {}: {e}", i + 1)))
            })
            .collect()
    }

    /// Appends one line to `metrics.jsonl` and flushes it.
    pub fn log(&self, line: &MetricsLine) -> Result<(), TrainError> {
        let path = self.file(METRICS);
        let line =
            serde_json::to_string(line).map_err(|e| TrainError::run(&path, e.to_string()))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::run(&path, e.to_string()))?;
        writeln!(f, "{line}")
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
