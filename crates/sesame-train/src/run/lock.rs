//! One writer per run directory: an exclusive OS file lock on `RUN/.lock`, taken before anything of the run is
//! read or written and held until the run returns.
//!
//! The kernel releases the lock when the process ends, however it ends (SIGKILL included), so no stale lock can
//! outlive its holder and a killed run can be resumed at once. The file itself stays (removing it would let a
//! process that opened it just before the removal lock an orphaned inode beside a newer holder); while held it
//! names the holder's process id, and it is emptied on release so a finished run's files do not depend on which
//! process wrote them. A directory the lock created and the run left empty (a refused model, bad data) is
//! removed again: a failed start leaves nothing behind. Readers (`evaluate`, `report --collect-only`) take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::TrainError;

/// The lock file inside a run directory.
pub const LOCK: &str = ".lock";

/// An exclusive claim on a run directory; dropping it releases the claim.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// The directory did not exist before: a run that wrote nothing into it leaves nothing behind.
    created: bool,
}

impl RunLock {
    /// Creates `dir` if needed and claims it for this process, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, TrainError> {
        let created = !dir.exists();
        let path = dir.join(LOCK);
        let open = || {
            std::fs::create_dir_all(dir)?;
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
        };
        // A holder that failed before writing anything removes the directory it created; a process that opened
        // the lock in between finds it gone once.
        let mut file = open()
            .or_else(|_| open())
            .map_err(|e| TrainError::write(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(TrainError::RunLocked {
                    dir: dir.to_path_buf(),
                    holder: holder(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(TrainError::write(&path, e)),
        }
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| write!(file, "{}", std::process::id()))
            .and_then(|_| file.flush())
            .map_err(|e| TrainError::write(&path, e))?;
        Ok(RunLock {
            file,
            path,
            created,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The holder's process id as the lock file names it; the holder writes it just after locking, so a reader that
/// comes in between sees nothing.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    for _ in 0..20 {
        text.clear();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            let pid = text.trim();
            if !pid.is_empty() {
                return format!("process {pid}");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "another process".into()
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Best effort: the kernel releases the lock anyway when the file closes; an id left behind only names a
        // process that is gone.
        let _ = self.file.set_len(0);
        if self.created {
            if let Some(dir) = self.path.parent() {
                let only_lock = std::fs::read_dir(dir)
                    .map(|entries| entries.flatten().all(|e| e.path() == self.path))
                    .unwrap_or(false);
                if only_lock {
                    let _ = std::fs::remove_file(&self.path);
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
        let _ = self.file.unlock();
    }
}
