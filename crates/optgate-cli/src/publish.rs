//! Safe publishing of an output directory: an exclusive lock per OUT, a
//! staging directory beside it, an atomic exchange with the previous output,
//! owner-and-group-only permissions, and a clean stop on SIGINT/SIGTERM.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, anyhow};
use tracing::warn;

use crate::exit::Failure;

/// Mode of every directory optgate creates: owner rwx, group r-x, others nothing.
pub const DIR_MODE: u32 = 0o750;
/// Mode of every file optgate creates: owner rw, group r, others nothing.
pub const FILE_MODE: u32 = 0o640;

/// Writes `bytes` to `path` readable by owner and group only ([`FILE_MODE`]),
/// whatever the umask and whatever mode an existing file had: reports,
/// plans and lineage events name inputs and outputs and hold their figures.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)?;
    // An existing file keeps its mode through open: set it.
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)
}

/// Set by SIGINT or SIGTERM; checked between work units and before publishing.
static INTERRUPTED: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

/// Installs the SIGINT/SIGTERM handlers (they only set a flag).
pub fn install_signal_handlers() -> Result<(), Failure> {
    let flag = INTERRUPTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, flag.clone())
            .context("cannot install the signal handlers")
            .map_err(Failure::runtime)?;
    }
    Ok(())
}

pub fn interrupted() -> bool {
    INTERRUPTED.get().is_some_and(|f| f.load(Ordering::Relaxed))
}

/// Fails with the interrupted status if a signal arrived.
pub fn check_interrupted() -> Result<(), Failure> {
    if interrupted() {
        Err(Failure::interrupted())
    } else {
        Ok(())
    }
}

/// Sets owner-and-group-only permissions on `path` and everything below it,
/// and flushes every directory to disk once its entries are final: the
/// files were flushed as they were written, and their names in the
/// directories must be on disk too before the tree is published.
pub fn restrict_and_flush_tree(path: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))?;
        for e in fs::read_dir(path)? {
            restrict_and_flush_tree(&e?.path())?;
        }
        File::open(path)?.sync_all()?;
    } else if meta.is_file() {
        fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(())
}

/// Where OUT's siblings live: its parent and its name.
pub fn out_parts(out: &Path) -> Result<(PathBuf, String), Failure> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| Failure::input(anyhow!("{}: not a directory name", out.display())))?
        .to_string_lossy()
        .into_owned();
    Ok((parent, name))
}

/// The exclusive lock of one OUT: `.OUT.lock` beside it, locked with
/// `flock` for as long as the run lives (the kernel releases it when the
/// process dies, however it dies). The file holds the holder's pid and start
/// time while locked, and is emptied on a clean release: a non-empty file
/// found unlocked is the trace of a run that died.
pub struct OutLock {
    file: File,
    path: PathBuf,
}

impl OutLock {
    /// Takes the lock of OUT for this run, then refuses an existing OUT
    /// unless `overwrite`: the start of every command that publishes.
    pub fn acquire_for_publish(
        out: &Path,
        run_id: &str,
        overwrite: bool,
    ) -> Result<OutLock, Failure> {
        let lock = OutLock::acquire(out, run_id)?;
        if fs::symlink_metadata(out).is_ok() && !overwrite {
            return Err(Failure::input(anyhow::anyhow!(
                "{}: output already exists; pass --overwrite to replace it",
                out.display()
            )));
        }
        Ok(lock)
    }

    pub fn acquire(out: &Path, run_id: &str) -> Result<OutLock, Failure> {
        let (parent, name) = out_parts(out)?;
        fs::create_dir_all(&parent)
            .with_context(|| format!("{}: cannot create the output's parent", parent.display()))
            .map_err(Failure::runtime)?;
        let path = parent.join(format!(".{name}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .with_context(|| format!("{}: cannot open the lock file", path.display()))
            .map_err(Failure::runtime)?;
        let mut holder = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let _ = file.read_to_string(&mut holder);
                return Err(Failure::input(anyhow!(
                    "{}: another optgate run is writing this output ({}); wait for it to finish",
                    out.display(),
                    describe_holder(&holder)
                )));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(Failure::runtime(
                    anyhow::Error::new(e).context(format!("{}: cannot lock", path.display())),
                ));
            }
        }
        let _ = file.read_to_string(&mut holder);
        if !holder.trim().is_empty() {
            warn!(
                lock = %path.display(),
                "Found a stale lock: a previous run ({}) died without finishing; taking over.",
                describe_holder(&holder)
            );
        }
        // Leftovers of dead runs on this OUT: staging and replaced directories.
        // Safe to remove: we hold the lock, so no live run owns them.
        if let Ok(entries) = fs::read_dir(&parent) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(&format!(".{name}.staging-"))
                    || n.starts_with(&format!(".{name}.replaced-"))
                {
                    warn!(path = %e.path().display(), "Removing the leftover of an interrupted run.");
                    fs::remove_dir_all(e.path())
                        .with_context(|| format!("{}: cannot remove", e.path().display()))
                        .map_err(Failure::runtime)?;
                }
            }
        }
        let info = format!(
            "pid={} run_id={run_id} started={}\n",
            std::process::id(),
            chrono_now()
        );
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(info.as_bytes())?;
            file.sync_all()
        };
        write(&mut file)
            .with_context(|| format!("{}: cannot write the lock file", path.display()))
            .map_err(Failure::runtime)?;
        Ok(OutLock { file, path })
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        // Emptied: released cleanly. Closing the file releases the flock.
        if self.file.set_len(0).is_err() {
            warn!(lock = %self.path.display(), "Could not empty the lock file.");
        }
    }
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn describe_holder(holder: &str) -> String {
    let pid = holder
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("pid="))
        .and_then(|p| p.parse::<u32>().ok());
    let started = holder
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("started="))
        .unwrap_or("at an unknown time");
    match pid {
        Some(pid) => {
            let alive = Path::new(&format!("/proc/{pid}")).exists();
            format!(
                "pid {pid}, started {started}{}",
                if alive { "" } else { ", no longer running" }
            )
        }
        None => "holder unknown".to_owned(),
    }
}

/// A staging directory beside OUT, removed unless the run publishes it.
pub struct Staging {
    pub dir: PathBuf,
    published: bool,
}

impl Staging {
    pub fn create(parent: &Path, name: &str, run_id: &str) -> Result<Staging, Failure> {
        let dir = parent.join(format!(".{name}.staging-{run_id}"));
        let staging = Staging {
            dir,
            published: false,
        };
        for sub in ["", "data", "ledger", "keys", "registry"] {
            let d = staging.dir.join(sub);
            fs::create_dir_all(&d)
                .and_then(|()| fs::set_permissions(&d, fs::Permissions::from_mode(DIR_MODE)))
                .with_context(|| format!("{}: cannot create the staging directory", d.display()))
                .map_err(Failure::runtime)?;
        }
        Ok(staging)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Publishes the staging directory as OUT. When OUT exists, the two are
/// exchanged in one atomic step (`renameat2(RENAME_EXCHANGE)`), so readers
/// see the previous complete output until the new one is in place, never
/// neither; the previous output is then removed.
pub fn publish(staging: &mut Staging, out: &Path) -> Result<(), Failure> {
    let (parent, _) = out_parts(out)?;
    restrict_and_flush_tree(&staging.dir)
        .with_context(|| {
            format!(
                "{}: cannot set permissions or flush the directories",
                staging.dir.display()
            )
        })
        .map_err(Failure::runtime)?;
    let had_previous = fs::symlink_metadata(out).is_ok();
    if had_previous {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &staging.dir,
            rustix::fs::CWD,
            out,
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .map_err(std::io::Error::from)
        .with_context(|| {
            format!(
                "{}: cannot exchange the new output with the previous one",
                out.display()
            )
        })
        .map_err(Failure::runtime)?;
        // The staging path now holds the previous output.
        staging.published = true;
        sync_dir(&parent);
        fs::remove_dir_all(&staging.dir)
            .with_context(|| {
                format!(
                    "{}: published, but cannot remove the previous output moved here",
                    staging.dir.display()
                )
            })
            .map_err(Failure::runtime)?;
    } else {
        fs::rename(&staging.dir, out)
            .with_context(|| format!("{}: cannot publish the output", out.display()))
            .map_err(Failure::runtime)?;
        staging.published = true;
        sync_dir(&parent);
    }
    Ok(())
}

/// Flushes the rename of the output in OUT's parent. It comes after the
/// output is in place, so a failure cannot undo the publish: it is said.
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        warn!(
            dir = %dir.display(),
            "Published, but could not flush the directory to disk: {e}; a crash now could lose the rename."
        );
    }
}
