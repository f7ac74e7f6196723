//! Finishing a slot that a command left half-done, from its record alone: rolling back an
//! `add` that never reached `ready`, finishing a `rm` that was cut short, forgetting a slot
//! whose directory is gone. Each copes with any part of any step being done or not (the
//! record names what each step was about to make before it started), and is run under the
//! slot's lock by `prune`, and by `rm` for the removal. `prune` itself is here too: which
//! slots need finishing, and the leases whose slot is gone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::git::Repo;
use crate::provision::{release_lease, remove_empty_dirs, take_back_excludes};
use crate::slot::{self, Slot, State};
use crate::slot_lock::SlotLock;
use crate::slot_worktree::{self as worktree, Place};
use crate::{envfile, fsutil, registry, services, txn};

fn say(what: &str) {
    eprintln!("git-agent: {what}");
}

/// Finishes whatever the slot's state says was under way. The record is dropped only when
/// nothing it names is left; on an error it stays, marked broken with the reason.
pub fn finish(repo: &Repo, slot: &mut Slot) -> Result<()> {
    let result = match slot.state {
        State::Creating => roll_back(repo, slot),
        State::Removing | State::Ready => finish_removal(repo, slot),
    };
    if let Err(e) = &result
        && crate::error::kind(e) != crate::error::Kind::Interrupted
    {
        slot.broken = Some(format!("{e:#}"));
        slot::save(&repo.common_dir, slot)?;
    }
    result
}

/// Rolls back a slot that never reached `ready`. Its `add` made everything in it (the
/// checkout, copied files, what setup wrote), so all of it goes; for an adopted worktree,
/// which is the user's, only what the `add` put there.
pub fn roll_back(repo: &Repo, slot: &Slot) -> Result<()> {
    let owner = services::namespaces::Owner {
        repo: &repo.common_dir,
        name: &slot.name,
    };
    for done in services::release(&slot.resources, owner)? {
        say(&format!("released {done}"));
    }
    if slot.adopted {
        remove_copied(&slot.path, &slot.copied)?;
        strip_env_block(&slot.path.join(&slot.env_file))?;
    } else {
        if worktree::remove(repo, &slot.path)? {
            say(&format!(
                "removed the half-made worktree {} and everything in it",
                slot.path.display()
            ));
        }
        if slot.created_branch
            && let Some(what) =
                worktree::delete_new_branch(repo, &slot.branch, slot.start.as_deref(), &slot.base)?
        {
            say(&what);
        }
        remove_empty_dirs(&repo.common_dir, &slot.made_dirs);
    }
    take_back_excludes(&repo.common_dir, &slot.excluded, &slot.name)?;
    release_lease(&repo.common_dir, &slot.name)?;
    say(&format!(
        "released the ports and the record of slot {}",
        slot.name
    ));
    Ok(())
}

/// Finishes a removal: the data services, the worktree (whatever `git worktree remove` left
/// of it), the branch when the record says it goes and it is merged, then the lease. For a
/// slot whose directory is gone, git's stale entry for it goes and nothing else is touched.
pub fn finish_removal(repo: &Repo, slot: &Slot) -> Result<()> {
    let owner = services::namespaces::Owner {
        repo: &repo.common_dir,
        name: &slot.name,
    };
    for done in services::release(&slot.resources, owner)? {
        say(&format!("released {done}"));
    }
    if !slot.adopted || slot.state == State::Removing {
        worktree::remove(repo, &slot.path)?;
    }
    // A `rm` that was cut short had decided to delete the branch (`created_branch` then
    // says so) when it is integrated as `rm` sees it: merged, squashed or rebased.
    if slot.created_branch
        && let Ok(Some(verdict)) =
            crate::land::integration::of_branch(repo, &slot.branch, &slot.base)
        && verdict.is_integrated()
    {
        match worktree::delete_branch(repo, &slot.branch)? {
            None => say(&format!("deleted branch {}", slot.branch)),
            Some(kept) => say(&kept),
        }
    }
    release_lease(&repo.common_dir, &slot.name)
}

/// Removes what `[setup] copy` created in an adopted worktree.
fn remove_copied(slot: &Path, copied: &[PathBuf]) -> Result<()> {
    for rel in copied {
        let path = slot.join(rel);
        let result = match path.symlink_metadata() {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => continue,
        };
        result.with_context(|| format!("could not remove the copied {}", path.display()))?;
        say(&format!("removed the copied {}", path.display()));
    }
    Ok(())
}

/// Takes git-agent's block out of an env file, keeping the user's lines.
fn strip_env_block(path: &Path) -> Result<()> {
    let Some(text) = fsutil::read_if_exists(path)? else {
        return Ok(());
    };
    let Some(kept) = envfile::without_block(&text) else {
        return Ok(());
    };
    if kept.trim().is_empty() {
        std::fs::remove_file(path)
            .with_context(|| format!("could not remove {}", path.display()))?;
    } else if kept != text {
        fsutil::write_atomic_mode(path, kept.as_bytes(), 0o600)?;
    }
    say(&format!(
        "took git-agent's variables out of {}",
        path.display()
    ));
    Ok(())
}

/// What `prune` did in one repository.
pub struct Pruned {
    /// Slots forgotten (or, on a dry run, that would be), as JSON.
    pub forgotten: Vec<serde_json::Value>,
    /// Machine-wide leases dropped because their slot record is gone, as JSON.
    pub leases_dropped: Vec<serde_json::Value>,
    /// Slots that could not be finished (kept, marked broken).
    pub failed: Vec<String>,
    /// Whether anything was done at all (a slot followed counts).
    pub acted: bool,
}

/// Finishes every slot of `repo` that a command left half-done or whose directory is gone,
/// follows worktrees git moved, then drops the leases of slots that are gone. Each slot is
/// finished under its lock, read again once the lock is held; a slot another command holds
/// is left alone, and one that cannot be finished is reported without stopping the others.
pub fn prune(repo: &Repo, dry_run: bool) -> Result<Pruned> {
    // Stop before forgetting anything if the leases cannot be released (a damaged registry).
    crate::registry::load()?;
    let names: Vec<String> = slot::load_all(&repo.common_dir)?
        .into_iter()
        .map(|s| s.name)
        .collect();
    txn::checkpoint("prune-listed");
    let mut actions = 0;
    let mut forgotten = Vec::new();
    let mut failed = Vec::new();
    // One slot that cannot be finished (a server down) does not stop the others.
    for name in &names {
        match prune_slot(repo, name, dry_run) {
            Ok(Some(done)) => {
                actions += 1;
                if let Some(done) = done {
                    forgotten.push(done);
                }
            }
            Ok(None) => {}
            Err(e) if crate::error::kind(&e) == crate::error::Kind::Interrupted => return Err(e),
            Err(e) => {
                eprintln!("git-agent: could not finish slot {name}: {e:#}");
                failed.push(name.clone());
            }
        }
    }
    let leases_dropped = drop_orphan_leases(dry_run)?;
    if !dry_run {
        // git-agent's own bookkeeping, nothing of the user's: not worth a line.
        crate::slot_lock::sweep_orphans(&repo.common_dir)?;
    }
    Ok(Pruned {
        acted: actions > 0,
        forgotten,
        leases_dropped,
        failed,
    })
}

/// Finishes one slot if a command left it half-done or its directory is gone; follows it if
/// git moved it. `None` when there was nothing to do; `Some(Some(json))` for a slot
/// forgotten, `Some(None)` for one followed.
fn prune_slot(repo: &Repo, name: &str, dry_run: bool) -> Result<Option<Option<serde_json::Value>>> {
    let common = &repo.common_dir;
    let Some(lock) = SlotLock::try_acquire(common, name, "prune")? else {
        let who = SlotLock::holder(common, name).unwrap_or_else(|| "another command".into());
        eprintln!("git-agent: skipped slot {name}: {who} is working on it");
        return Ok(None);
    };
    // Read again under the lock: the command that held it may have finished just now.
    if !slot::exists(common, name) {
        return Ok(None);
    }
    let mut slot = slot::load(common, name)?;
    let why = match slot.state {
        State::Creating => format!(
            "its `git agent add` was interrupted{}",
            slot.step
                .as_ref()
                .map(|s| format!(" (at step {s})"))
                .unwrap_or_default()
        ),
        State::Removing => "its `git agent rm` was interrupted".to_string(),
        State::Ready => match worktree::locate(common, &slot.path, slot.worktree_id.as_deref()) {
            Place::Here => return Ok(None),
            Place::Moved(to) => {
                eprintln!(
                    "git-agent: {} slot {name}: git moved its worktree from {} to {}",
                    if dry_run { "would follow" } else { "following" },
                    slot.path.display(),
                    to.display()
                );
                if !dry_run {
                    worktree::follow(common, &mut slot, to)?;
                }
                return Ok(Some(None));
            }
            Place::Locked(at, reason) => {
                eprintln!(
                    "git-agent: kept slot {name}: {} is not there, but git's worktree is locked ({reason}); \
                     `git worktree unlock {}` if it is gone for good",
                    at.display(),
                    at.display()
                );
                return Ok(None);
            }
            Place::Gone => format!("its directory {} is gone", slot.path.display()),
        },
    };
    eprintln!(
        "git-agent: {} slot {name}: {why}",
        if dry_run {
            "would forget"
        } else {
            "forgetting"
        }
    );
    let done = json!({"name": slot.name, "path": slot.path, "reason": why});
    if !dry_run {
        finish(repo, &mut slot)?;
    }
    drop(lock);
    Ok(Some(Some(done)))
}

/// Leases whose record is gone (a repository deleted, a record removed by hand).
fn drop_orphan_leases(dry_run: bool) -> Result<Vec<serde_json::Value>> {
    let mut locked = registry::Locked::acquire()?;
    let orphans: Vec<&registry::Entry> = locked
        .registry
        .slots
        .iter()
        .filter(|e| !slot::exists(&e.repo, &e.name))
        .collect();
    let dropped: Vec<serde_json::Value> = orphans
        .iter()
        .map(|e| json!({"name": e.name, "path": e.root}))
        .collect();
    for e in &orphans {
        eprintln!(
            "git-agent: {} the lease of {} ({}): its slot record is gone",
            if dry_run { "would drop" } else { "dropping" },
            e.name,
            e.root.display()
        );
    }
    if !dry_run && !dropped.is_empty() {
        locked
            .registry
            .slots
            .retain(|e| slot::exists(&e.repo, &e.name));
        locked.save()?;
    }
    Ok(dropped)
}
