//! Finishing a slot that a command left half-done, from its record alone: rolling back an
//! `add` that never reached `ready`, finishing a `rm` that was cut short, forgetting a slot
//! whose directory is gone. Each copes with any part of any step being done or not (the
//! record names what each step was about to make before it started), and is run under the
//! slot's lock by `prune`, and by `rm` for the removal.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::git::Repo;
use crate::provision::{release_lease, remove_empty_dirs, take_back_excludes};
use crate::slot::{self, Slot, State};
use crate::slot_worktree as worktree;
use crate::{envfile, fsutil, services};

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
