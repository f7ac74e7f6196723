//! `git agent prune`: forgets slots whose directory is gone (releasing their ports and
//! resources), rolls back slots a killed `add` left in `creating`, finishes a `rm` that was
//! cut short, and drops machine-wide leases whose slot record no longer exists.

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::cli::Prune;
use crate::git::{self, Repo};
use crate::registry::{self, Registry};
use crate::services;
use crate::slot::{self, Slot, State};

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
    let repo = Repo::discover(&super::current_dir()?)?;
    // Stop before forgetting anything if the leases cannot be released (a damaged registry).
    registry::load()?;
    let mut actions = 0;
    let mut forgotten = Vec::new();
    for slot in slot::load_all(&repo.common_dir)? {
        if let Some(why) = stale(&slot) {
            actions += 1;
            forgotten.push(json!({"name": slot.name, "path": slot.path, "reason": why}));
            eprintln!(
                "git-agent: {} slot {}: {why}",
                if args.dry_run {
                    "would forget"
                } else {
                    "forgetting"
                },
                slot.name
            );
            if !args.dry_run {
                forget(&repo, &slot)?;
            }
        }
    }
    // Leases whose record is gone (a repository deleted, a record removed by hand).
    let mut locked = registry::Locked::acquire()?;
    let before = locked.registry.slots.len();
    let orphan_entries: Vec<&registry::Entry> = locked
        .registry
        .slots
        .iter()
        .filter(|e| !slot::exists(&e.repo, &e.name))
        .collect();
    let dropped: Vec<serde_json::Value> = orphan_entries
        .iter()
        .map(|e| json!({"name": e.name, "path": e.root}))
        .collect();
    let orphans: Vec<String> = orphan_entries
        .iter()
        .map(|e| format!("{} ({})", e.name, e.root.display()))
        .collect();
    for orphan in &orphans {
        eprintln!(
            "git-agent: {} the lease of {orphan}: its slot record is gone",
            if args.dry_run {
                "would drop"
            } else {
                "dropping"
            }
        );
    }
    if !args.dry_run && !orphans.is_empty() {
        locked
            .registry
            .slots
            .retain(|e| slot::exists(&e.repo, &e.name));
        locked.save()?;
    }
    actions += before - locked.registry.slots.len().min(before);
    if actions == 0 && orphans.is_empty() {
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
    Ok(())
}

/// Why a slot should be forgotten, if it should.
fn stale(slot: &Slot) -> Option<String> {
    let alive = slot.pid.is_some_and(slot::process_alive);
    match slot.state {
        State::Creating if !alive => Some("its `git agent add` was interrupted".into()),
        State::Removing if !alive => Some("its `git agent rm` was interrupted".into()),
        State::Ready if !slot.path.exists() => {
            Some(format!("its directory {} is gone", slot.path.display()))
        }
        _ => None,
    }
}

/// Releases what the record says was created, removes the worktree if git-agent made it and
/// nobody changed it, and drops the lease and the record.
fn forget(repo: &Repo, slot: &Slot) -> Result<()> {
    let owner = services::namespaces::Owner {
        repo: &repo.common_dir,
        name: &slot.name,
    };
    for done in services::release(&slot.resources, owner)? {
        eprintln!("git-agent: released {done}");
    }
    let mut keep_branch = !slot.created_branch;
    // Git's own locks fail rather than wait; a concurrent `add` must not see them held.
    let lock = crate::git::repo_lock(&repo.common_dir)?;
    if slot.path.exists() && !slot.adopted {
        let clean = git::changes(&slot.path)
            .map(|c| c.is_clean())
            .unwrap_or(false);
        if clean || slot.state == State::Removing {
            let mut cmd = repo.git();
            cmd.args(["worktree", "remove", "--force"]).arg(&slot.path);
            git::run(cmd)?;
        } else {
            keep_branch = true;
            eprintln!(
                "git-agent: kept {}: it has changes; remove it with `git worktree remove` once you have saved them",
                slot.path.display()
            );
        }
    }
    let mut cmd = repo.git();
    cmd.args(["worktree", "prune"]);
    git::run(cmd)?;
    // A branch made by an `add` that never finished holds no commits of its own; a `rm` that
    // was cut short had decided to delete it (`created_branch` then says so) when merged.
    // Integrated as `rm` sees it: merged, squashed or rebased into the base or its upstream.
    if !keep_branch
        && let Ok(Some(verdict)) =
            crate::land::integration::of_branch(repo, &slot.branch, &slot.base)
        && verdict.is_integrated()
    {
        let mut cmd = repo.git();
        cmd.args(["branch", "-D", "--", &slot.branch]);
        let _ = git::run(cmd);
    }
    drop(lock);
    if slot.state == State::Creating {
        crate::provision::remove_empty_dirs(&slot.made_dirs);
        crate::provision::take_back_excludes(&repo.common_dir, &slot.excluded, &slot.name)?;
    }
    crate::provision::release_lease(&repo.common_dir, &slot.name)
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
    if let Ok(cwd) = super::current_dir()
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
            let kept = locked
                .dir()
                .join(format!("registry.json.damaged.{}", slot::now()));
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

/// The repositories named in the `repos` file written beside the registry.
fn known_repos(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_to_string(dir.join("repos"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(std::path::PathBuf::from)
        .collect()
}
