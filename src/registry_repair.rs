//! `prune --repair`: rebuilding a damaged machine-wide registry from the slot records of the
//! repositories it lists (read leniently from the damaged file) and of the current one. Apart
//! from `registry`, which only reads and writes a sound file.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::git::Repo;
use crate::registry::{self, Registry};
use crate::slot;

/// Rebuilds the registry from the slot records of the repositories it lists (read leniently
/// from the damaged file) and of the current repository. Returns how many slots of how many
/// repositories it holds.
pub fn repair(dry_run: bool) -> Result<(usize, usize)> {
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
