//! A slot's git worktree in whatever state a command cut short left it, read from git's own
//! metadata: `<git-common-dir>/worktrees/<id>/gitdir` (where git believes the worktree is)
//! and the worktree's `.git` file (which entry it belongs to).
//!
//! `git worktree add` makes, in order: the branch (with `-b`), the directory, git's entry
//! (marked `locked` while it checks out), the `.git` file, the files, then runs the
//! post-checkout hook. `git worktree remove` deletes the files (the `.git` file among the
//! first), then the entry. A signal can stop either anywhere, so [`remove`] copes with each
//! piece being there or not, and [`locate`] follows a worktree that `git worktree move` moved.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::fsutil::same_path;
use crate::git::{self, Repo, repo_lock};

/// git's entry for one linked worktree.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub dir: PathBuf,
    /// The worktree's directory, as git's `gitdir` file names it (`<worktree>/.git`).
    pub worktree: Option<PathBuf>,
    /// The reason in git's `locked` file, when there is one (`initializing` while `git
    /// worktree add` checks out).
    pub locked: Option<String>,
}

/// Every linked worktree git knows of.
pub fn entries(common: &Path) -> Vec<Entry> {
    let Ok(dirs) = std::fs::read_dir(common.join("worktrees")) else {
        return vec![];
    };
    let mut out: Vec<Entry> = dirs
        .flatten()
        .filter(|d| d.path().is_dir())
        .map(|d| {
            let dir = d.path();
            let worktree = std::fs::read_to_string(dir.join("gitdir"))
                .ok()
                .map(|t| PathBuf::from(t.trim_end_matches(['\n', '\r'])))
                .map(|p| p.parent().map(Path::to_path_buf).unwrap_or(p));
            let locked = std::fs::read_to_string(dir.join("locked")).ok();
            Entry {
                id: d.file_name().to_string_lossy().into_owned(),
                dir,
                worktree,
                locked: locked.map(|t| t.trim().to_string()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The id of the entry a worktree's `.git` file points at.
pub fn worktree_id(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path.join(".git")).ok()?;
    let dir = text.trim().strip_prefix("gitdir:")?.trim();
    Some(Path::new(dir).file_name()?.to_string_lossy().into_owned())
}

/// Whether git can work in the worktree at `path`: its `.git` file is there and names an
/// entry that exists (`git worktree remove` may have deleted either one alone).
pub fn intact(common: &Path, path: &Path) -> bool {
    path.join(".git").is_file()
        && worktree_id(path).is_some_and(|id| common.join("worktrees").join(id).is_dir())
}

/// git's entry for the worktree at `path`: the one whose `gitdir` names it, or the one its
/// `.git` file names.
pub fn entry_for(common: &Path, path: &Path) -> Option<Entry> {
    let all = entries(common);
    if let Some(e) = all.iter().find(|e| {
        e.worktree
            .as_deref()
            .is_some_and(|w| w == path || same_path(w, path))
    }) {
        return Some(e.clone());
    }
    let id = worktree_id(path)?;
    all.into_iter().find(|e| e.id == id)
}

/// Where a slot's worktree is now.
#[derive(Debug, PartialEq)]
pub enum Place {
    /// At its recorded path.
    Here,
    /// `git worktree move` took it there (git's entry and the worktree agree).
    Moved(PathBuf),
    /// Not at its path, but git's entry is locked (a removable disk, say): kept as it is.
    Locked(PathBuf, String),
    /// Neither the directory nor a git entry that leads to it.
    Gone,
}

/// Finds the slot's worktree: at `path`, or where git's entry `id` now says it is.
pub fn locate(common: &Path, path: &Path, id: Option<&str>) -> Place {
    if path.exists() {
        return Place::Here;
    }
    let Some(entry) = id.and_then(|id| entries(common).into_iter().find(|e| e.id == id)) else {
        return Place::Gone;
    };
    let Some(now) = entry.worktree.clone() else {
        return Place::Gone;
    };
    if now != path && now.is_dir() && worktree_id(&now).as_deref() == Some(entry.id.as_str()) {
        return Place::Moved(now);
    }
    match entry.locked {
        Some(reason) => Place::Locked(now, reason),
        None => Place::Gone,
    }
}

/// Removes the worktree at `path` and git's entry for it, from any state: whole, half-made
/// (git's entry still `locked` while checking out), half-deleted (its `.git` file gone, a
/// process still writing into it), or only git's entry left. Only for a worktree whose files
/// may all go: one an `add` made and never finished, or one `rm` has checked and was told to
/// remove. Returns whether there was anything to remove.
pub fn remove(repo: &Repo, path: &Path) -> Result<bool> {
    guard(repo, path)?;
    let common = &repo.common_dir;
    let mut removed = false;
    if path.join(".git").is_file() && entry_for(common, path).is_some() {
        // git's own removal first: it knows about submodules and its own files.
        let _lock = repo_lock(common)?;
        let mut cmd = repo.git();
        cmd.args(["worktree", "remove", "--force", "--force"])
            .arg(path);
        match git::run(cmd) {
            Ok(_) => removed = true,
            // Stopped by Ctrl-C: what is left is for the next `rm` (or `prune`) to finish.
            Err(e) if crate::error::kind(&e) == crate::error::Kind::Interrupted => return Err(e),
            // Half-deleted, or a process still writing into it: the rest is done below.
            Err(_) => {}
        }
    }
    if path.symlink_metadata().is_ok() {
        remove_tree(path)?;
        removed = true;
    }
    if let Some(entry) = entry_for(common, path) {
        let _lock = repo_lock(common)?;
        std::fs::remove_dir_all(&entry.dir)
            .or_else(ignore_missing)
            .with_context(|| format!("could not remove git's entry {}", entry.dir.display()))?;
        // git deletes the directory of entries once it is empty; so do we.
        let _ = std::fs::remove_dir(common.join("worktrees"));
        removed = true;
    }
    Ok(removed)
}

/// Never the main worktree, the repository, or a directory holding either.
fn guard(repo: &Repo, path: &Path) -> Result<()> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !path.is_absolute()
        || path.parent().is_none()
        || repo.main_worktree.starts_with(&real)
        || repo.common_dir.starts_with(&real)
        || same_path(path, &repo.main_worktree)
    {
        bail!(
            "refusing to remove {}: it is not a slot's worktree directory",
            path.display()
        );
    }
    Ok(())
}

/// Deletes a directory tree, trying again a few times when something keeps adding files to
/// it while it goes (a dev server still writing).
fn remove_tree(path: &Path) -> Result<()> {
    let mut last = None;
    for attempt in 0..6u64 {
        crate::txn::stop_if_requested()?;
        match std::fs::remove_dir_all(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
    }
    let e = last.expect("an error after failed attempts");
    Err(e).with_context(|| {
        format!(
            "could not delete {} (is a process still writing into it? stop it, then run the command again)",
            path.display()
        )
    })
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// Deletes a branch an `add` created for a slot that never became ready, when it holds
/// nothing of anyone's: still at the commit it started from (or, for a record without that,
/// merged into the base). Returns what happened, for the user; `None` when there is no such
/// branch.
pub fn delete_new_branch(
    repo: &Repo,
    branch: &str,
    start: Option<&str>,
    base: &str,
) -> Result<Option<String>> {
    let Some(tip) = repo.resolve(&format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let untouched = match start.and_then(|s| gix::ObjectId::from_hex(s.as_bytes()).ok()) {
        Some(start) => tip == start,
        None => repo
            .resolve(base)
            .is_some_and(|b| repo.count_unique(tip, &[b]).unwrap_or(1) == 0),
    };
    if !untouched {
        return Ok(Some(format!(
            "kept the branch {branch}: it has commits that were not there when the slot was made"
        )));
    }
    Ok(Some(match delete_branch(repo, branch)? {
        None => format!("deleted the branch {branch}"),
        Some(kept) => kept,
    }))
}

/// Deletes a branch a slot's removal or rollback takes away, unless another worktree has it
/// checked out meanwhile (a slot of the same branch made since, or the user's own checkout):
/// it is that worktree's now, and git would refuse anyway. `None` when deleted, else why kept.
pub fn delete_branch(repo: &Repo, branch: &str) -> Result<Option<String>> {
    let _lock = repo_lock(&repo.common_dir)?;
    if let Some(user) = repo
        .worktrees()?
        .into_iter()
        .find(|w| w.branch.as_deref() == Some(branch))
    {
        return Ok(Some(format!(
            "kept the branch {branch}: the worktree {} has it checked out",
            user.path.display()
        )));
    }
    let mut cmd = repo.git();
    cmd.args(["branch", "-D", "--", branch]);
    git::run(cmd)?;
    Ok(None)
}

/// Points a slot's record and its lease at the place `git worktree move` moved it to
/// (`Place::Moved`), for `prune` and for `rm`, which removes it there.
pub fn follow(common: &Path, slot: &mut crate::slot::Slot, to: PathBuf) -> Result<()> {
    let mut locked = crate::registry::Locked::acquire()?;
    slot.path = to.clone();
    crate::slot::save(common, slot)?;
    if let Some(entry) = locked
        .registry
        .slots
        .iter_mut()
        .find(|e| e.repo == common && e.name == slot.name)
    {
        entry.root = to;
    }
    locked.save()
}
