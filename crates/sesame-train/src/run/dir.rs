//! The run directory on disk: files written atomically, checkpoints that are complete or invisible, and the
//! typed records of `super::records` read and written by name.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::records::{MetricsLine, RunReport};
use crate::error::TrainError;
use crate::fsio::{sync_dir, write_atomic, write_json_atomic, write_synced};

/// The resolved job of the run.
pub const CONFIG: &str = "config.json";
/// What a finished run achieved; its presence marks the run as complete.
pub const REPORT: &str = "report.json";
/// Training and evaluation log, one JSON object a line.
pub const METRICS: &str = "metrics.jsonl";
/// Dev metrics of every epoch.
pub const FINAL_METRICS: &str = "final_metrics.json";
/// The best model on dev, a Hugging Face directory.
pub const BEST: &str = "best";
const CHECKPOINTS: &str = "checkpoints";
/// The file in `checkpoints/` naming the newest complete checkpoint.
const LATEST: &str = "LATEST";
/// What a run writes into its directory (all of it goes with `--overwrite-output-dir`).
const RUN_ENTRIES: [&str; 6] = [CONFIG, REPORT, METRICS, FINAL_METRICS, BEST, CHECKPOINTS];

/// The name of the checkpoint after `step` optimizer updates (`transformers`' Trainer uses the same).
pub fn checkpoint_name(step: usize) -> String {
    format!("checkpoint-{step}")
}

/// The step of a checkpoint name written by [`checkpoint_name`].
fn checkpoint_step(name: &str) -> Option<usize> {
    name.strip_prefix("checkpoint-")?.parse().ok()
}

/// A checkpoint just written, and old ones that could not be removed.
#[derive(Debug)]
pub struct SavedCheckpoint {
    pub dir: PathBuf,
    pub warnings: Vec<String>,
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Opens (creating if needed) a run directory.
    pub fn create(path: impl Into<PathBuf>) -> Result<Self, TrainError> {
        let path = path.into();
        std::fs::create_dir_all(path.join(CHECKPOINTS)).map_err(|e| TrainError::write(&path, e))?;
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
        let line = serde_json::to_string(line).map_err(|source| TrainError::Serialize {
            path: path.clone(),
            source,
        })?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::write(&path, e))?;
        writeln!(f, "{line}")
            .and_then(|_| f.flush())
            .map_err(|e| TrainError::write(&path, e))
    }

    fn checkpoints(&self) -> PathBuf {
        self.path.join(CHECKPOINTS)
    }

    /// The newest complete checkpoint, if any. A `LATEST` that names a missing directory is an error.
    pub fn latest_checkpoint(&self) -> Result<Option<PathBuf>, TrainError> {
        let pointer = self.checkpoints().join(LATEST);
        if !pointer.exists() {
            return Ok(None);
        }
        let name = std::fs::read_to_string(&pointer)
            .map_err(|e| TrainError::run(&pointer, e.to_string()))?;
        let name = name.trim();
        let dir = self.checkpoints().join(name);
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') || !dir.is_dir() {
            return Err(TrainError::run(
                &pointer,
                format!("names checkpoint `{name}`, which does not exist"),
            ));
        }
        Ok(Some(dir))
    }

    /// Writes a checkpoint as `checkpoints/<name>/`: every file into a temporary directory and fsynced, the
    /// directory renamed into place, then `LATEST` pointed at it (atomically), then all but the newest `keep`
    /// checkpoints removed. A crash or a write failure at any point leaves the previous checkpoint complete and
    /// named by `LATEST`; a half-written one is never visible. Old checkpoints that cannot be removed are
    /// returned as warnings, not errors: the new checkpoint is safe, and a run should not die of it.
    pub fn save_checkpoint(
        &self,
        name: &str,
        files: &[(&str, Vec<u8>)],
        keep: usize,
    ) -> Result<SavedCheckpoint, TrainError> {
        let root = self.checkpoints();
        let dir = root.join(name);
        let tmp = root.join(format!(".{name}.tmp"));
        let result = (|| {
            if tmp.exists() {
                std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::write(&tmp, e))?;
            }
            std::fs::create_dir_all(&tmp).map_err(|e| TrainError::write(&tmp, e))?;
            for (file, bytes) in files {
                write_synced(&tmp.join(file), bytes)?;
            }
            sync_dir(&tmp).map_err(|e| TrainError::write(&tmp, e))?;
            // A directory of this name can only be left by a crash between its rename and `LATEST`.
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| TrainError::write(&dir, e))?;
            }
            std::fs::rename(&tmp, &dir).map_err(|e| TrainError::write(&dir, e))?;
            sync_dir(&root).map_err(|e| TrainError::write(&root, e))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp); // best effort: the error above is what the user needs
            return Err(e);
        }
        write_atomic(&root.join(LATEST), name.as_bytes())?;
        let warnings = self.prune_checkpoints(name, keep);
        Ok(SavedCheckpoint { dir, warnings })
    }

    /// Removes temporary leftovers and all checkpoints but the newest `keep` (by step; `current` always stays).
    fn prune_checkpoints(&self, current: &str, keep: usize) -> Vec<String> {
        let root = self.checkpoints();
        let Ok(entries) = std::fs::read_dir(&root) else {
            return vec![format!(
                "cannot list {} to remove old checkpoints",
                root.display()
            )];
        };
        let mut steps: Vec<(usize, PathBuf)> = Vec::new();
        let mut remove: Vec<PathBuf> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let file_name = entry.file_name().to_string_lossy().to_string();
            if !path.is_dir() || file_name == current {
                continue;
            }
            if file_name.starts_with('.') && file_name.ends_with(".tmp") {
                remove.push(path);
            } else if let Some(step) = checkpoint_step(&file_name) {
                steps.push((step, path));
            } else if file_name.starts_with("epoch-") {
                // The name older versions gave to epoch checkpoints.
                remove.push(path);
            }
        }
        steps.sort();
        let older = steps.len().saturating_sub(keep.saturating_sub(1));
        remove.extend(steps.into_iter().take(older).map(|(_, p)| p));
        remove
            .into_iter()
            .filter_map(|p| {
                std::fs::remove_dir_all(&p)
                    .err()
                    .map(|e| format!("could not remove old checkpoint {}: {e}", p.display()))
            })
            .collect()
    }

    /// Shortens `metrics.jsonl` to `len` bytes: the lines a resumed run will write again are dropped, so the
    /// log of a resumed run reads like an uninterrupted one.
    pub fn truncate_metrics(&self, len: u64) -> Result<(), TrainError> {
        let path = self.file(METRICS);
        let Ok(meta) = std::fs::metadata(&path) else {
            return Ok(());
        };
        if meta.len() > len {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(len))
                .map_err(|e| TrainError::write(&path, e))?;
        }
        Ok(())
    }

    /// The current size of `metrics.jsonl` (0 before the first line).
    pub fn metrics_len(&self) -> u64 {
        std::fs::metadata(self.file(METRICS)).map_or(0, |m| m.len())
    }

    /// Whether the directory holds any of a run's files.
    pub fn holds_run(&self) -> bool {
        RUN_ENTRIES.iter().any(|name| self.file(name).exists())
    }

    /// Removes every file and directory a run writes (and nothing else the user keeps there).
    pub fn clear(&self) -> Result<(), TrainError> {
        for name in RUN_ENTRIES.iter().chain(&[".best.tmp", ".best.old"]) {
            let path = self.file(name);
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else if path.exists() {
                std::fs::remove_file(&path)
            } else {
                Ok(())
            };
            removed.map_err(|e| TrainError::write(&path, e))?;
        }
        std::fs::create_dir_all(self.checkpoints())
            .map_err(|e| TrainError::write(self.checkpoints(), e))
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
        for stale in [&tmp, &old] {
            if stale.exists() {
                std::fs::remove_dir_all(stale).map_err(|e| TrainError::write(stale, e))?;
            }
        }
        std::fs::create_dir_all(&tmp).map_err(|e| TrainError::write(&tmp, e))?;
        if let Err(e) = write(&tmp) {
            let _ = std::fs::remove_dir_all(&tmp); // best effort: the write error is what the user needs
            return Err(e);
        }
        if target.exists() {
            std::fs::rename(&target, &old).map_err(|e| TrainError::write(&target, e))?;
        }
        std::fs::rename(&tmp, &target).map_err(|e| TrainError::write(&target, e))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| TrainError::write(&old, e))?;
        }
        Ok(target)
    }

    /// Puts back directory `name` if a crash inside [`RunDir::replace_dir`] left only its `.old` copy.
    pub fn recover_dir(&self, name: &str) -> Result<(), TrainError> {
        let target = self.path.join(name);
        let old = self.path.join(format!(".{name}.old"));
        if !target.exists() && old.is_dir() {
            std::fs::rename(&old, &target).map_err(|e| TrainError::write(&target, e))?;
        }
        Ok(())
    }
}
