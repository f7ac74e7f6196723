//! `git agent prune`: forgets slots whose directory is gone (releasing their ports and
//! resources), rolls back slots a killed `add` left in `creating`, finishes a `rm` that was
//! cut short, follows worktrees `git worktree move` moved, and drops machine-wide leases whose
//! slot record no longer exists. Each slot is finished under its lock, read again once the
//! lock is held; a slot another command holds is left alone, and one that cannot be finished
//! is reported (kept, marked broken) without stopping the others.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cli::Prune;
use crate::git::Repo;
use crate::registry::{self, Registry};
use crate::slot::{self, State};
use crate::slot_lock::SlotLock;
use crate::slot_worktree::{self as worktree, Place};
use crate::{teardown, txn};

pub fn run(args: &Prune) -> Result<()> {
    if args.repair {
        let (slots, repositories) = repair(args.dry_run)?;
        if args.json {
            crate::output::print_json(&json!({
                "version": crate::output::JSON_VERSION,
                "dry_run": args.dry_run,
                "forgotten": [],
                "leases_dropped": [],
                "repaired": {"slots": slots, "repositories": repositories},
            }))?;
        }
        return Ok(());
    }
    txn::install_handler();
    let repo = Repo::discover(&crate::context::current_dir()?)?;
    // Stop before forgetting anything if the leases cannot be released (a damaged registry).
    registry::load()?;
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
        match prune_slot(&repo, name, args.dry_run) {
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
    let dropped = drop_orphan_leases(args.dry_run)?;
    if actions == 0 && dropped.is_empty() && failed.is_empty() {
        eprintln!("git-agent: nothing to prune");
    }
    if args.json {
        crate::output::print_json(&json!({
            "version": crate::output::JSON_VERSION,
            "dry_run": args.dry_run,
            "forgotten": forgotten,
            "leases_dropped": dropped,
            "repaired": null,
        }))?;
    }
    if !failed.is_empty() {
        return Err(anyhow!(
            "could not finish {} slot(s): {}; each is kept with its ports, marked broken (`git agent ls`, \
             `git agent doctor`); fix what the message says, then run `git agent prune` again",
            failed.len(),
            failed.join(", ")
        ));
    }
    Ok(())
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
                    follow(common, &mut slot, to)?;
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
        teardown::finish(repo, &mut slot)?;
    }
    drop(lock);
    Ok(Some(Some(done)))
}

/// Points the record and the lease at the worktree's new place.
fn follow(common: &Path, slot: &mut slot::Slot, to: PathBuf) -> Result<()> {
    let mut locked = registry::Locked::acquire()?;
    slot.path = to.clone();
    slot::save(common, slot)?;
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

/// Rebuilds the registry from the slot records of the repositories it lists (read leniently
/// from the damaged file) and of the current repository. Returns how many slots of how many
/// repositories it holds.
fn repair(dry_run: bool) -> Result<(usize, usize)> {
    let (mut locked, old) = registry::Locked::acquire_for_repair()?;
    let mut repos: Vec<std::path::PathBuf> = match &old {
        Ok(registry) => registry.slots.iter().map(|s| s.repo.clone()).collect(),
        Err(_) => known_repos(locked.dir()),
    };
    if let Ok(cwd) = crate::context::current_dir()
        && let Ok(repo) = Repo::discover(&cwd)
    {
        repos.push(repo.common_dir);
    }
    repos.sort();
    repos.dedup();
    let mut rebuilt = Registry::default();
    for repo in &repos {
        for slot in slot::load_all(repo).unwrap_or_default() {
            rebuilt.slots.push(registry::Entry {
                root: slot.path.clone(),
                repo: repo.clone(),
                name: slot.name.clone(),
                env_file: slot.env_file.clone(),
                k: slot.k,
                ports: slot.ports.clone(),
            });
        }
    }
    eprintln!(
        "git-agent: {} the registry with {} slot(s) from {} repositories",
        if dry_run { "would rebuild" } else { "rebuilt" },
        rebuilt.slots.len(),
        repos.len()
    );
    if !dry_run {
        let damaged = locked.dir().join("registry.json");
        if old.is_err() && damaged.exists() {
            let kept = backup_name(locked.dir());
            std::fs::rename(&damaged, &kept)?;
            eprintln!("git-agent: the damaged file is kept as {}", kept.display());
        }
    }
    let counts = (rebuilt.slots.len(), repos.len());
    if !dry_run {
        locked.registry = rebuilt;
        locked.save()?;
    }
    Ok(counts)
}

/// A name for the damaged registry that no earlier backup has (two repairs in one second
/// must not overwrite each other's); called under the registry's lock.
fn backup_name(dir: &Path) -> PathBuf {
    let stamp = slot::now();
    (1..)
        .map(|n| match n {
            1 => dir.join(format!("registry.json.damaged.{stamp}")),
            n => dir.join(format!("registry.json.damaged.{stamp}-{n}")),
        })
        .find(|p| p.symlink_metadata().is_err())
        .expect("an unused name")
}

/// The repositories named in the `repos` file written beside the registry.
fn known_repos(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_to_string(dir.join("repos"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(std::path::PathBuf::from)
        .collect()
}
