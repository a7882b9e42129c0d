//! Crash-safe file writes: a reader sees the old file or the new one, never half of one.

use std::io::Write;
use std::path::Path;

use crate::error::TrainError;

/// Writes `bytes` to `path` via a temporary file in the same directory, fsync, then rename. A path that exists
/// and is not a regular file (`/dev/null`, `/dev/stdout`, a named pipe) is written to directly: renaming over it
/// would replace the device or pipe with a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let io = |source| TrainError::write(path, source);
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(io);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Writes `value` as JSON (pretty or on one line) with [`write_atomic`]; a value serde cannot write is an error
/// naming the file, never an empty file.
pub fn write_json_atomic(
    path: &Path,
    value: &impl serde::Serialize,
    pretty: bool,
) -> Result<(), TrainError> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|source| TrainError::Serialize {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, text.as_bytes())
}

/// Writes `bytes` to a new file `path` and fsyncs it (inside a directory that is renamed into place later).
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    (|| {
        let mut file = std::fs::File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    })()
    .map_err(|e| TrainError::write(path, e))
}

/// Persists the entries of directory `dir` (a rename or a new file in it) on filesystems that need it.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir) {
        // Some filesystems refuse to fsync a directory; the data files themselves are synced already.
        Ok(d) => match d.sync_all() {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        },
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("sesame-fsio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("out.bin");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        let leftovers = std::fs::read_dir(&dir).expect("list").count();
        assert_eq!(leftovers, 1);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_device_is_written_to_not_replaced() {
        let null = Path::new("/dev/null");
        write_atomic(null, b"discarded").expect("write to /dev/null");
        let meta = std::fs::metadata(null).expect("metadata");
        assert!(!meta.is_file(), "/dev/null must stay a device");
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-sesame-dir/x.bin"), b"x").unwrap_err();
        assert!(matches!(err, TrainError::Write { .. }), "{err:?}");
        assert!(
            err.to_string().contains("/nonexistent-sesame-dir/x.bin"),
            "{err}"
        );
    }
}
