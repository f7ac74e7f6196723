//! The user's approvals of repository-provided setup commands, in
//! `$XDG_STATE_HOME/git-agent/approvals.json`. An approval is keyed by the repository (its
//! git common dir) and the exact command text, so a changed command is asked about again and
//! one repository's approval never lets another run the same text.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Approval {
    /// The repository's git common dir (canonical).
    pub repo: PathBuf,
    /// The command text, exactly as in the template.
    pub command: String,
    /// Seconds since the Unix epoch.
    pub approved_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Store {
    pub version: u32,
    pub approved: Vec<Approval>,
}

impl Store {
    pub fn is_approved(&self, repo: &Path, command: &str) -> bool {
        self.approved
            .iter()
            .any(|a| a.repo == repo && a.command == command)
    }

    /// The commands of `repo` not approved yet, in their order.
    pub fn pending(&self, repo: &Path, commands: &[String]) -> Vec<String> {
        commands
            .iter()
            .filter(|c| !self.is_approved(repo, c))
            .cloned()
            .collect()
    }
}

pub fn path() -> Result<PathBuf> {
    Ok(crate::paths::state_dir()?.join("approvals.json"))
}

/// Reads the approvals; a missing file is an empty store.
pub fn load() -> Result<Store> {
    let path = path()?;
    let Some(text) = crate::fsutil::read_if_exists(&path)? else {
        return Ok(Store {
            version: VERSION,
            approved: vec![],
        });
    };
    let store: Store = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is damaged ({e}); remove it to start over (every setup command is then asked about again)",
            path.display()
        )
    })?;
    if store.version != VERSION {
        bail!(
            "{} has version {}, this git-agent reads version {VERSION}",
            path.display(),
            store.version
        );
    }
    Ok(store)
}

/// Changes the store under a lock, so two approvals at once both stay.
fn update(change: impl FnOnce(&mut Store)) -> Result<()> {
    let path = path()?;
    let dir = path
        .parent()
        .context("the approvals file has no directory")?;
    fsutil::create_private_dir(dir)?;
    let lock_path = dir.join("approvals.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("could not open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("could not lock {}", lock_path.display()))?;
    let mut store = load()?;
    change(&mut store);
    store.version = VERSION;
    let json = serde_json::to_string_pretty(&store)?;
    fsutil::write_atomic(&path, json.as_bytes())
}

/// Remembers that the user approved these commands for this repository.
pub fn approve(repo: &Path, commands: &[String]) -> Result<()> {
    let now = crate::slot::now();
    update(|store| {
        for command in commands {
            if !store.is_approved(repo, command) {
                store.approved.push(Approval {
                    repo: repo.to_path_buf(),
                    command: command.clone(),
                    approved_at: now,
                });
            }
        }
    })
}

/// Forgets every approval of this repository; returns how many there were.
pub fn revoke(repo: &Path) -> Result<usize> {
    let mut removed = 0;
    update(|store| {
        let before = store.approved.len();
        store.approved.retain(|a| a.repo != repo);
        removed = before - store.approved.len();
    })?;
    Ok(removed)
}

/// What the commands asked about are for, in the question and in the refusal.
pub struct Purpose {
    /// "setup commands", "merge commands".
    pub what: &'static str,
    /// Where they run: "in the new slot".
    pub where_: &'static str,
    /// The flag that goes on without them: "--no-setup to skip setup".
    pub skip: &'static str,
}

pub const SETUP: Purpose = Purpose {
    what: "setup commands",
    where_: "in the new slot",
    skip: "--no-setup to skip setup",
};

/// Makes sure the user approved every setup command (see `require_for`).
pub fn require(repo: &Path, template: &Path, commands: &[String]) -> Result<()> {
    require_for(repo, template, commands, &SETUP)
}

/// Makes sure the user approved every command: asks on a terminal (stdin and stderr both
/// terminals), and otherwise fails at once, because a prompt nobody can answer would hang an
/// agent or a script forever.
pub fn require_for(
    repo: &Path,
    template: &Path,
    commands: &[String],
    purpose: &Purpose,
) -> Result<()> {
    let store = load()?;
    let pending = store.pending(repo, commands);
    if pending.is_empty() {
        return Ok(());
    }
    let list: String = pending.iter().map(|c| format!("\n    {c}")).collect();
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        bail!(
            "{} asks to run {} you have not approved:{list}\n\
             nothing was changed; read them, then approve them with `git agent approve` (remembered \
             until their text changes), pass --yes to run them this once, or {}",
            template.display(),
            purpose.what,
            purpose.skip
        );
    }
    {
        let mut err = std::io::stderr().lock();
        write!(
            err,
            "git-agent: {} asks to run these {} {}:{list}\n\
             git-agent: run them (now and whenever they are unchanged)? [y/N] ",
            template.display(),
            purpose.what,
            purpose.where_
        )?;
        err.flush()?;
    }
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("could not read the answer")?;
    if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        bail!(
            "the {} were not approved; nothing was changed ({})",
            purpose.what,
            purpose.skip
        );
    }
    approve(repo, &pending)?;
    eprintln!(
        "git-agent: approved; `git agent approve --revoke` forgets this repository's approvals"
    );
    Ok(())
}
