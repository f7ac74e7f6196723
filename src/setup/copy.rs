//! `[setup] copy`: files and directories the checkout does not bring (ignored or untracked:
//! `.env`, `node_modules`, local config) copied from the main worktree into a new slot.
//!
//! Patterns follow git's wildmatch rules (`*` stays within a directory, `**` crosses them),
//! matched against what exists in the main worktree. A matched directory is copied whole, by
//! `cp -a`, which keeps symlinks as symlinks, permissions and times, and on Linux with
//! `--reflink=auto` shares blocks where the filesystem can (btrfs, XFS): one process walks a
//! 100k-file `node_modules` instead of one copy call per file from here, and independent
//! groups are copied in parallel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};

pub use super::patterns::expand;
use super::patterns::{Tracked, git_path, untracked_in};
use crate::txn::{self, Txn};

/// At most this many sources per `cp` process (well below any argument-length limit).
const BATCH: usize = 200;

/// Copies what the patterns match from `main` into `slot`. Paths that already exist in the
/// slot are left alone. With `undo`, each copied path is removed again on rollback (for an
/// adopted worktree, which rollback does not delete).
pub fn copy(
    patterns: &[String],
    main: &Path,
    slot: &Path,
    undo: bool,
    txn: &mut Txn,
) -> Result<()> {
    let mut units: Vec<PathBuf> = Vec::new();
    let mut matched_any: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for pattern in patterns {
        let found = expand(main, pattern)?;
        if found.is_empty() {
            eprintln!(
                "git-agent: warning: [setup] copy: '{pattern}' matches nothing in {}",
                main.display()
            );
        }
        matched_any.push((pattern.clone(), found.clone()));
        units.extend(found);
    }
    if units.is_empty() {
        return Ok(());
    }
    let tracked = Tracked::read(main)?;
    let mut wanted: Vec<PathBuf> = Vec::new();
    for (pattern, found) in &matched_any {
        let mut any = false;
        for unit in found {
            let key = git_path(unit);
            if tracked.files.contains(&key) {
                continue;
            }
            any = true;
            if tracked.dirs.contains(&key) {
                // A directory holding tracked files: only what the checkout lacks.
                wanted.extend(untracked_in(main, &key)?);
            } else {
                wanted.push(unit.clone());
            }
        }
        if !any && !found.is_empty() {
            eprintln!(
                "git-agent: warning: [setup] copy: '{pattern}' matches only tracked files, which the checkout already has"
            );
        }
    }
    wanted.sort();
    wanted.dedup();
    // A path inside another one that is copied whole comes with it.
    let mut units: Vec<PathBuf> = Vec::new();
    for path in wanted {
        if !units.iter().any(|u| path.starts_with(u)) {
            units.push(path);
        }
    }
    let slot_real = std::fs::canonicalize(slot)
        .with_context(|| format!("could not resolve {}", slot.display()))?;
    let mut groups: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for unit in &units {
        let dest = slot.join(unit);
        if dest.symlink_metadata().is_ok() {
            eprintln!(
                "git-agent: [setup] copy: kept {}: it already exists in the slot",
                unit.display()
            );
            continue;
        }
        let parent = dest.parent().unwrap_or(slot).to_path_buf();
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
        // A symlinked directory in the slot must not lead the copy outside of it.
        let real = std::fs::canonicalize(&parent)
            .with_context(|| format!("could not resolve {}", parent.display()))?;
        if !real.starts_with(&slot_real) {
            eprintln!(
                "git-agent: warning: [setup] copy: skipped {}: {} leads outside the slot",
                unit.display(),
                parent.display()
            );
            continue;
        }
        groups.entry(parent).or_default().push(unit.clone());
    }
    let jobs: Vec<(PathBuf, Vec<PathBuf>)> = groups
        .into_iter()
        .flat_map(|(parent, list)| {
            list.chunks(BATCH)
                .map(|c| (parent.clone(), c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    let count: usize = jobs.iter().map(|(_, list)| list.len()).sum();
    if count == 0 {
        return Ok(());
    }
    let status =
        super::progress::Status::start(&format!("copying {count} path(s) from the main worktree"));
    let done = run_jobs(main, &jobs);
    drop(status);
    let (copied, error) = done;
    if undo {
        for unit in copied.iter().rev() {
            let dest = slot.join(unit);
            txn.on_undo(
                format!("removed the copied {}", dest.display()),
                move || remove_path(&dest),
            );
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    let names: Vec<String> = copied
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    let more = copied.len().saturating_sub(names.len());
    eprintln!(
        "git-agent: copied from the main worktree: {}{}",
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Runs the `cp` jobs, as many at once as there are CPUs. Returns what was copied and the
/// first error.
fn run_jobs(
    main: &Path,
    jobs: &[(PathBuf, Vec<PathBuf>)],
) -> (Vec<PathBuf>, Option<anyhow::Error>) {
    let next = AtomicUsize::new(0);
    let copied = Mutex::new(Vec::new());
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((dest, units)) = jobs.get(i) else {
                        break;
                    };
                    let failed = error.lock().map(|e| e.is_some()).unwrap_or(true);
                    if failed || txn::interrupted() {
                        break;
                    }
                    match cp(main, units, dest) {
                        Ok(()) => {
                            if let Ok(mut list) = copied.lock() {
                                list.extend(units.iter().cloned());
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    let copied = copied.into_inner().unwrap_or_default();
    let mut error = error.into_inner().unwrap_or(None);
    if error.is_none() && txn::interrupted() {
        error = Some(crate::error::Interrupted.into());
    }
    (copied, error)
}

/// One `cp` process: sources (relative to `main`) into the directory `dest`.
fn cp(main: &Path, units: &[PathBuf], dest: &Path) -> Result<()> {
    let mut cmd = Command::new("cp");
    if cfg!(target_os = "linux") {
        cmd.args(["-a", "--reflink=auto"]);
    } else {
        // POSIX: recursive, symlinks not followed, modes and times kept.
        cmd.args(["-pPR"]);
    }
    cmd.arg("--").args(units).arg(dest).current_dir(main);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .context("could not run cp")?;
    if !out.status.success() {
        txn::child_status(&out.status)?;
        let names: Vec<String> = units.iter().map(|u| u.display().to_string()).collect();
        bail!(
            "[setup] copy: could not copy {} into the slot: {}",
            names.join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn remove_path(path: &Path) -> Result<()> {
    let result = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.with_context(|| format!("could not remove {}", path.display()))
}
