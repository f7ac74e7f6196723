//! One lock per slot, held by whichever command is changing the slot: `add` and `adopt` from
//! the moment the slot's name is chosen until it is ready or rolled back, `rm` from its checks
//! to the end, `prune` while it finishes a slot. It is an flock on
//! `<git-common-dir>/agent/slots/<name>.lock`, which the kernel drops when the process dies,
//! however it dies: "is that command still running?" is answered by trying the lock, never by
//! a pid (a killed command's zombie, or a pid reused by another program, looks alive).
//!
//! The lock is never waited for: a command that finds it held stops with a `busy` error
//! (exit 4) or skips the slot. So holding it while waiting for another lock (the registry's,
//! the repository's) cannot deadlock.
//!
//! A command that changes a slot (any new one, too):
//!
//! ```text
//! let lock = SlotLock::acquire(&common, &name, "merge")?;  // busy (exit 4) if held
//! let mut slot = slot::load(&common, &name)?;              // re-read under the lock
//! let mut txn = Txn::new();
//! txn.hold(lock);                                          // kept until the rollback is over
//! slot.intend(&common, STEP, |s| s.field = ...)?;          // the record says what comes next
//! txn.on_undo(...); ...act...                              // the undo copes with a half-done act
//! ```
//!
//! The file exists only while a command holds the lock, or after a killed one (`prune`
//! deletes those of slots without a record, [`sweep_orphans`]): the holder deletes it as it
//! lets go, and whoever takes the lock checks that the file it locked is
//! still the one at that path (an older holder may have deleted it in between).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::slot::{Slot, State, slots_dir};

/// A held slot lock; released (and its file deleted) when dropped.
#[derive(Debug)]
pub struct SlotLock {
    file: File,
    path: PathBuf,
}

pub fn lock_path(common: &Path, name: &str) -> PathBuf {
    slots_dir(common).join(format!("{name}.lock"))
}

impl SlotLock {
    /// Takes the lock of slot `name`, or fails with a `busy` error naming the command that
    /// holds it. `command` (`add`, `rm`, ...) is what other commands are told is holding it.
    pub fn acquire(common: &Path, name: &str, command: &str) -> Result<SlotLock> {
        match SlotLock::try_acquire(common, name, command)? {
            Some(lock) => Ok(lock),
            None => Err(crate::error::busy(busy_message(common, name))),
        }
    }

    /// Takes the lock if nobody holds it; `None` if somebody does.
    pub fn try_acquire(common: &Path, name: &str, command: &str) -> Result<Option<SlotLock>> {
        crate::fsutil::create_private_dir(&slots_dir(common))?;
        let path = lock_path(common, name);
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("could not open {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("could not lock {}", path.display()));
                }
            }
            // The previous holder deletes the file as it lets go: if it did so after we
            // opened it, we hold a lock on a file nobody else will find. Start over.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
            // Who holds it, for the message another command prints; never used to decide.
            let _ = file.set_len(0);
            let _ = writeln!(file, "{command} (pid {})", std::process::id());
            return Ok(Some(SlotLock { file, path }));
        }
    }

    /// Who holds the lock of slot `name` right now (`add (pid 123)`), or `None` when nobody
    /// does. Creates nothing.
    pub fn holder(common: &Path, name: &str) -> Option<String> {
        let path = lock_path(common, name);
        let mut file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            // Free (a killed holder left the file): nobody is working on the slot.
            Ok(()) => None,
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let text = text.trim();
                Some(if text.is_empty() {
                    "another git-agent command".to_string()
                } else {
                    format!("`git agent {text}`")
                })
            }
            Err(TryLockError::Error(_)) => None,
        }
    }
}

/// Who holds the lock of `slot` (read earlier by the caller), and its record as it stands
/// now: a record read while a command was changing the slot is read again once that lock is
/// free, since the command may have finished since, or rolled the slot back (`None`).
pub fn as_it_stands(common: &Path, slot: Slot) -> Result<(Option<String>, Option<Slot>)> {
    let holder = SlotLock::holder(common, &slot.name);
    if holder.is_some() || slot.state == State::Ready {
        return Ok((holder, Some(slot)));
    }
    match crate::slot::load(common, &slot.name) {
        Ok(now) => Ok((None, Some(now))),
        Err(_) if !crate::slot::exists(common, &slot.name) => Ok((None, None)),
        Err(e) => Err(e),
    }
}

/// Deletes the lock files that killed commands left for slots that have no record (killed
/// after choosing a name and before recording it, or after forgetting the slot and before
/// letting go): taking each lock proves nobody holds it, and letting go deletes the file.
/// Returns how many went. A lock someone holds is left to them.
pub fn sweep_orphans(common: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(slots_dir(common)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).context("could not list the slot records"),
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(name) = file.to_str().and_then(|f| f.strip_suffix(".lock")) else {
            continue;
        };
        if crate::slot::exists(common, name) {
            continue;
        }
        // Letting go deletes the file; a record made meanwhile by a command that then died
        // is finished by `prune` as any other.
        if SlotLock::try_acquire(common, name, "prune")?.is_some() {
            swept += 1;
        }
    }
    Ok(swept)
}

impl Drop for SlotLock {
    fn drop(&mut self) {
        // Deleted while still locked; the lock goes when the file is closed right after.
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

/// The `busy` message for a slot whose lock is held.
pub fn busy_message(common: &Path, name: &str) -> String {
    let who = SlotLock::holder(common, name).unwrap_or_else(|| "another git-agent command".into());
    format!(
        "slot {name} is busy: {who} is working on it right now; wait for it to finish and try again \
         (if it was stopped, its slot is finished by `git agent prune`)"
    )
}
