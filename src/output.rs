//! Files stems writes (CSV, JSON, schedules, traces): their folders are created, errors
//! name the path, and a file appears whole or not at all — it is written beside its
//! destination and renamed into place when complete, so an interrupted run never
//! leaves half a file. What is not a regular file is written through, as coreutils do:
//! a symbolic link's target is replaced (atomically when it is a regular file), a FIFO
//! or device receives the bytes, and `-` is standard output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("writing {}: {error}", path.display())]
pub struct OutputError {
    pub path: PathBuf,
    /// Not a `#[source]`: the message already says it.
    pub error: std::io::Error,
}

/// A file being written; `commit` renames it into place.
pub struct AtomicFile {
    path: PathBuf,
    /// Where the bytes go until `commit`, and what they then replace (none when
    /// written through).
    partial: Option<(PathBuf, PathBuf)>,
    out: BufWriter<Box<dyn Write>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let fail = |error| OutputError {
            path: path.to_path_buf(),
            error,
        };
        if path == Path::new("-") {
            return Ok(Self {
                path: path.to_path_buf(),
                partial: None,
                out: BufWriter::new(Box::new(std::io::stdout())),
            });
        }
        // A link is followed to what it names; that is what gets replaced.
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(fail)?,
            _ => path.to_path_buf(),
        };
        if std::fs::metadata(&target).is_ok_and(|m| !m.is_file()) {
            // A FIFO, a device (or a directory, which fails to open and says so).
            let file = File::options().write(true).open(&target).map_err(fail)?;
            return Ok(Self {
                path: path.to_path_buf(),
                partial: None,
                out: BufWriter::new(Box::new(file)),
            });
        }
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = target.with_file_name(name);
        let file = File::create(&partial).map_err(fail)?;
        Ok(Self {
            path: path.to_path_buf(),
            partial: Some((partial, target)),
            out: BufWriter::new(Box::new(file)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and renames the file into place.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let fail = |error| OutputError {
            path: self.path.clone(),
            error,
        };
        self.out.flush().map_err(fail)?;
        match self.partial.take() {
            Some((partial, target)) => std::fs::rename(&partial, &target).map_err(fail),
            None => Ok(()),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for AtomicFile {
    /// An uncommitted file (an error, an interruption) leaves nothing behind.
    fn drop(&mut self) {
        if let Some((partial, _)) = &self.partial {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|error| OutputError {
        path: path.to_path_buf(),
        error,
    })?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_in_a_new_folder_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("stems-output-{}", std::process::id()));
        let path = dir.join("a/b/out.json");
        write(&path, b"{}").expect("written");
        assert_eq!(std::fs::read(&path).expect("read"), b"{}");
        // Dropped before commit: no file, no partial file.
        let other = dir.join("a/never.json");
        let mut f = AtomicFile::create(&other).expect("created");
        f.write_all(b"half").expect("write");
        drop(f);
        assert!(!other.exists() && !dir.join("a/never.json.partial").exists());
        // A path under a file cannot be a folder: the error names it.
        let err = write(&path.join("x.json"), b"").expect_err("not a folder");
        assert!(err.to_string().contains("out.json/x.json"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
