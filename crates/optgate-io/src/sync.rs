//! Written files flushed to disk on a thread of their own.
//!
//! A worker that has written a part file hands it to the [`Syncer`] and goes
//! on to its next work unit while the disk catches up, instead of waiting in
//! `fsync`. Nothing is published before [`Syncer::wait`] has returned `Ok`:
//! it returns once every file handed over has been flushed, with the first
//! error if any flush failed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SendError, Sender, channel};
use std::thread::JoinHandle;

use crate::error::{IoError, Result};

enum Message {
    Sync(PathBuf, File),
    Stop,
}

/// Where a writer hands a finished file to be flushed; cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncQueue(Sender<Message>);

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Sync(path, _) => f.debug_tuple("Sync").field(path).finish(),
            Message::Stop => f.write_str("Stop"),
        }
    }
}

/// Flushes `file` (written at `path`) to disk, the error naming the path.
pub(crate) fn flush(path: &Path, file: &File) -> Result<()> {
    file.sync_all().map_err(|source| IoError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Has the file at `path` flushed to disk: handed to `sync` when given,
/// else here.
pub fn flush_file(path: &Path, sync: Option<&SyncQueue>) -> Result<()> {
    let file = File::open(path).map_err(|source| IoError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    match sync {
        Some(queue) => queue.sync(path, file),
        None => flush(path, &file),
    }
}

/// Copies `from` to `to` (a new file) and has the copy flushed to disk
/// ([`flush_file`]). Returns the bytes copied.
pub fn copy_flushed(from: &Path, to: &Path, sync: Option<&SyncQueue>) -> Result<u64> {
    let bytes = std::fs::copy(from, to).map_err(|source| IoError::Copy {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })?;
    flush_file(to, sync)?;
    Ok(bytes)
}

impl SyncQueue {
    /// Hands `file` over to be flushed. Once the syncer has stopped, the
    /// file is flushed here instead, so no file goes unflushed.
    pub fn sync(&self, path: &Path, file: File) -> Result<()> {
        match self.0.send(Message::Sync(path.to_path_buf(), file)) {
            Ok(()) => Ok(()),
            Err(SendError(Message::Sync(path, file))) => flush(&path, &file),
            Err(SendError(Message::Stop)) => unreachable!("only Syncer sends Stop"),
        }
    }
}

/// The thread that flushes the files handed to its queues.
#[derive(Debug)]
pub struct Syncer {
    queue: SyncQueue,
    thread: Option<JoinHandle<Result<u64>>>,
}

impl Syncer {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Syncer> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("optgate-sync".into())
            .spawn(move || flush_all(&rx))?;
        Ok(Syncer {
            queue: SyncQueue(tx),
            thread: Some(thread),
        })
    }

    /// A queue to hand files to this syncer.
    pub fn queue(&self) -> SyncQueue {
        self.queue.clone()
    }

    /// Waits until every file handed over before this call is flushed;
    /// returns how many were, or the first error. Call it once the writers
    /// are done: a file handed over while it runs may be closed unflushed.
    /// Files handed over after it has returned are flushed by their writer.
    pub fn wait(mut self) -> Result<u64> {
        self.stop()
    }

    fn stop(&mut self) -> Result<u64> {
        let Some(thread) = self.thread.take() else {
            return Ok(0);
        };
        // The thread is alive until it reads Stop, so the send succeeds;
        // if it died, the join below reports it.
        let _ = self.queue.0.send(Message::Stop);
        thread.join().unwrap_or(Err(IoError::SyncThreadPanicked))
    }
}

impl Drop for Syncer {
    /// A run that fails still flushes (and closes) what it handed over
    /// before its staging directory is removed.
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Flushes files in the order they come until Stop; every file is flushed
/// even after one fails, and the first failure is returned.
fn flush_all(rx: &Receiver<Message>) -> Result<u64> {
    let mut first_error = None;
    let mut flushed = 0u64;
    while let Ok(Message::Sync(path, file)) = rx.recv() {
        match flush(&path, &file) {
            Ok(()) => flushed += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(flushed), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_handed_over_is_flushed_before_wait_returns() {
        let dir = tempfile::tempdir().expect("tmp");
        let syncer = Syncer::start().expect("start");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let queue = syncer.queue();
                let dir = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let path = dir.join(format!("{t}-{i}"));
                        let file = File::create(&path).expect("create");
                        queue.sync(&path, file).expect("handed over");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer");
        }
        let queue = syncer.queue();
        assert_eq!(syncer.wait().expect("flushed"), 40);
        // After the syncer stopped, a file is flushed by the writer.
        let path = dir.path().join("late");
        let file = File::create(&path).expect("create");
        queue.sync(&path, file).expect("flushed in place");
    }

    /// Linux refuses to flush a character device (EINVAL): the error names
    /// it, though a file was handed over after it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_flush_is_reported_with_its_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let syncer = Syncer::start().expect("start");
        let device = Path::new("/dev/null");
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open(device)
            .expect("open /dev/null");
        syncer.queue().sync(device, null).expect("handed over");
        let after = dir.path().join("after");
        let file = File::create(&after).expect("create");
        syncer.queue().sync(&after, file).expect("handed over");
        match syncer.wait() {
            Err(IoError::Write { path, source }) => {
                assert_eq!(path, device);
                assert_eq!(source.kind(), std::io::ErrorKind::InvalidInput);
            }
            other => panic!("expected the device's flush to fail, got {other:?}"),
        }
    }

    /// A copy holds the source's bytes and is handed to the syncer; a copy
    /// that cannot be made names both paths and is the run's failure.
    #[test]
    fn a_copy_is_flushed_and_a_failed_one_names_both_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let from = dir.path().join("from");
        std::fs::write(&from, b"part bytes").expect("write");
        let syncer = Syncer::start().expect("start");
        let to = dir.path().join("to");
        let queue = syncer.queue();
        assert_eq!(copy_flushed(&from, &to, Some(&queue)).expect("copied"), 10);
        assert_eq!(std::fs::read(&to).expect("read"), b"part bytes");
        drop(queue);
        assert_eq!(syncer.wait().expect("flushed"), 1);
        // Without a syncer it is flushed in place.
        let inline = dir.path().join("inline");
        copy_flushed(&from, &inline, None).expect("copied");
        assert_eq!(std::fs::read(&inline).expect("read"), b"part bytes");

        let missing = dir.path().join("missing");
        match copy_flushed(&missing, &dir.path().join("nowhere"), None) {
            Err(e @ IoError::Copy { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("missing") && text.contains("nowhere"),
                    "{text}"
                );
                assert!(!e.is_input_error());
            }
            other => panic!("expected Copy, got {other:?}"),
        }
    }
}
