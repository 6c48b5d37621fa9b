//! Bytes spilled to disk by partition: files appended to from many threads,
//! each under its own lock, then read back whole, one at a time. The
//! verification's post-id keys, deduplication's key records and its losers
//! are spilled this way, so that memory holds one partition at a time.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{IoError, Result};

/// Files a spill keeps open at once, at most: well under the 1,024
/// descriptors a process is given by default. Past that many partitions'
/// worth of records, a partition holds more than its target, and so more
/// memory.
pub const MAX_OPEN_FILES: u64 = 512;

/// `n` files `name-00000`… in `dir`, each appended to under its own lock.
pub(crate) struct Partitions {
    paths: Vec<PathBuf>,
    files: Vec<Mutex<BufWriter<File>>>,
}

impl Partitions {
    pub(crate) fn create(dir: &Path, name: &str, n: usize) -> Result<Partitions> {
        let paths: Vec<PathBuf> = (0..n).map(|p| dir.join(format!("{name}-{p:05}"))).collect();
        let files = paths
            .iter()
            .map(|path| {
                let file = File::create(path).map_err(|source| IoError::Write {
                    path: path.clone(),
                    source,
                })?;
                Ok(Mutex::new(BufWriter::new(file)))
            })
            .collect::<Result<_>>()?;
        Ok(Partitions { paths, files })
    }

    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// Appends `bytes` to partition `p`, in one write.
    pub(crate) fn append(&self, p: usize, bytes: &[u8]) -> Result<()> {
        let mut w = self.files[p]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        w.write_all(bytes).map_err(|source| IoError::Write {
            path: self.paths[p].clone(),
            source,
        })
    }

    /// Appends each partition's run of `runs` (one per partition) and empties it.
    pub(crate) fn append_runs(&self, runs: &mut [Vec<u8>]) -> Result<()> {
        for (p, bytes) in runs.iter_mut().enumerate().filter(|(_, b)| !b.is_empty()) {
            self.append(p, bytes)?;
            bytes.clear();
        }
        Ok(())
    }

    /// Flushes every file; returns their paths, in partition order.
    pub(crate) fn finish(self) -> Result<Vec<PathBuf>> {
        for (w, path) in self.files.into_iter().zip(&self.paths) {
            w.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .flush()
                .map_err(|source| IoError::Write {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(self.paths)
    }
}

/// A partition's bytes, decoded by `decode` (`None`: cut short, an error
/// that names the file).
pub(crate) fn read_partition<T>(path: &Path, decode: impl FnOnce(&[u8]) -> Option<T>) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| IoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decoded(path, bytes.len(), decode(&bytes))
}

fn cut_short(path: &Path, len: usize) -> IoError {
    IoError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes that end within a record"),
        ),
    }
}

/// A partition of records of `size` bytes each, its bytes as they are (no
/// copy), the file removed once read.
pub(crate) fn take_records(path: &Path, size: usize) -> Result<Vec<u8>> {
    let bytes = take_bytes(path)?;
    if !bytes.len().is_multiple_of(size) {
        return Err(cut_short(path, bytes.len()));
    }
    Ok(bytes)
}

/// [`read_partition`], the file removed once read.
pub(crate) fn take_partition<T>(path: &Path, decode: impl FnOnce(&[u8]) -> Option<T>) -> Result<T> {
    let bytes = take_bytes(path)?;
    decoded(path, bytes.len(), decode(&bytes))
}

/// A partition's bytes as they are, the file removed once read: for
/// [`take_partition`], and for records that borrow from them (decoded with
/// [`decoded`]).
pub(crate) fn take_bytes(path: &Path) -> Result<Vec<u8>> {
    let read_err = |source| IoError::Read {
        path: path.to_path_buf(),
        source,
    };
    let bytes = std::fs::read(path).map_err(read_err)?;
    std::fs::remove_file(path).map_err(read_err)?;
    Ok(bytes)
}

/// `records` decoded from the `len` bytes of the partition at `path`, or the
/// error that names it when they end within a record.
pub(crate) fn decoded<T>(path: &Path, len: usize, records: Option<T>) -> Result<T> {
    records.ok_or_else(|| cut_short(path, len))
}
