//! The machine-wide registry under the user's state dir: every slot this user created, in
//! any repository, with its port lease. Ports are a machine-wide resource, so leases live
//! here and not in a repository. The list of slot roots is also what the shell hook trusts.
//!
//! Files in `$XDG_STATE_HOME/git-agent/`:
//! - `registry.json` — the slots and their leases (written atomically, under `lock`);
//! - `roots` — one slot root per line, a cache of `registry.json` the shell hook reads with
//!   builtins only;
//! - `lock` — held (flock) by whoever changes the registry.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// The slot's worktree directory (absolute, as created).
    pub root: PathBuf,
    /// The repository's git common dir (canonical), which holds the slot's record.
    pub repo: PathBuf,
    pub name: String,
    /// The env file's name inside the slot, read by the shell hook.
    pub env_file: String,
    /// The port offset and the ports leased with it.
    pub k: u32,
    pub ports: BTreeMap<String, u16>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Registry {
    pub version: u32,
    pub slots: Vec<Entry>,
}

impl Registry {
    pub fn leased_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.slots.iter().flat_map(|s| s.ports.values().copied())
    }

    pub fn find_root(&self, root: &Path) -> Option<&Entry> {
        self.slots.iter().find(|s| s.root == root)
    }

    pub fn remove(&mut self, repo: &Path, name: &str) -> Option<Entry> {
        let index = self
            .slots
            .iter()
            .position(|s| s.repo == repo && s.name == name)?;
        Some(self.slots.remove(index))
    }
}

pub fn dir() -> Result<PathBuf> {
    crate::paths::state_dir()
}

fn registry_path(dir: &Path) -> PathBuf {
    dir.join("registry.json")
}

pub fn roots_path(dir: &Path) -> PathBuf {
    dir.join("roots")
}

/// Reads the registry without taking the lock (writes are atomic renames, so a reader sees a
/// whole file). A missing registry is an empty one.
pub fn load() -> Result<Registry> {
    load_from(&dir()?)
}

fn load_from(dir: &Path) -> Result<Registry> {
    let path = registry_path(dir);
    let Some(text) = fsutil::read_if_exists(&path)? else {
        return Ok(Registry {
            version: VERSION,
            slots: vec![],
        });
    };
    let registry: Registry = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is damaged ({e}); nothing was changed. Run `git agent prune --repair` to rebuild it \
             from the slot records of the repositories it can still find (the damaged file is kept beside it)",
            path.display()
        )
    })?;
    if registry.version != VERSION {
        bail!(
            "{} has version {}, this git-agent reads version {VERSION}; use a matching git-agent, \
             or run `git agent prune --repair` to rebuild it",
            path.display(),
            registry.version
        );
    }
    Ok(registry)
}

/// The registry with the machine-wide lock held until this value is dropped.
pub struct Locked {
    _lock: File,
    dir: PathBuf,
    pub registry: Registry,
}

impl Locked {
    /// Waits for the lock, then reads the registry.
    pub fn acquire() -> Result<Locked> {
        let dir = dir()?;
        let lock = lock_file(&dir)?;
        let registry = load_from(&dir)?;
        Ok(Locked {
            _lock: lock,
            dir,
            registry,
        })
    }

    /// Takes the lock but starts from an empty registry, for `prune --repair`.
    pub fn acquire_for_repair() -> Result<(Locked, Result<Registry>)> {
        let dir = dir()?;
        let lock = lock_file(&dir)?;
        let old = load_from(&dir);
        Ok((
            Locked {
                _lock: lock,
                dir,
                registry: Registry {
                    version: VERSION,
                    slots: vec![],
                },
            },
            old,
        ))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the registry and the roots cache the shell hook reads.
    pub fn save(&mut self) -> Result<()> {
        self.registry.version = VERSION;
        let json = serde_json::to_string_pretty(&self.registry)?;
        fsutil::write_atomic(&registry_path(&self.dir), json.as_bytes())?;
        let mut roots = String::new();
        for slot in &self.registry.slots {
            let root = slot.root.to_string_lossy();
            // A root with a newline cannot be matched line by line; the hook skips it.
            if !root.contains('\n') {
                roots.push_str(&root);
                roots.push('\n');
            }
        }
        fsutil::write_atomic(&roots_path(&self.dir), roots.as_bytes())?;
        // The repositories, kept apart so a damaged registry can be rebuilt from their records.
        let mut repos: Vec<String> = self
            .registry
            .slots
            .iter()
            .map(|s| s.repo.to_string_lossy().into_owned())
            .collect();
        let known = std::fs::read_to_string(self.dir.join("repos")).unwrap_or_default();
        // A repository whose records are all gone has nothing to rebuild from; dropping it keeps
        // an `add` that was rolled back from leaving a trace here.
        repos.extend(
            known
                .lines()
                .filter(|l| has_records(Path::new(l)))
                .map(str::to_string),
        );
        repos.sort();
        repos.dedup();
        let text: String = repos
            .iter()
            .filter(|r| !r.contains('\n'))
            .map(|r| format!("{r}\n"))
            .collect();
        fsutil::write_atomic(&self.dir.join("repos"), text.as_bytes())
    }
}

fn has_records(common: &Path) -> bool {
    std::fs::read_dir(crate::slot::slots_dir(common))
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".toml"))
        })
        .unwrap_or(false)
}

fn lock_file(dir: &Path) -> Result<File> {
    fsutil::create_private_dir(dir)?;
    fsutil::lock(&dir.join("lock"))
}
