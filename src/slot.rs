//! The per-repository slot record: `<git-common-dir>/agent/slots/<name>.toml`. It travels
//! with the repository and says everything `rm` needs to undo, including exactly which
//! resources were created (release never re-derives a name from the branch).
//!
//! Intent before action: before a step starts a child or changes anything, the record says
//! what the step is about to make ([`Slot::intend`]): the worktree's path, the branch and the
//! commit it starts from, the database's name, the Redis database, the paths a copy creates.
//! Whoever finishes a killed command (`prune`, `rm`) works from that, whatever part of the
//! step was done. Changes to a record are made under the slot's lock (`slot_lock.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::services::Resources;

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// `add` is still working (or was killed); `prune` rolls it back.
    Creating,
    Ready,
    /// `rm` started; running `rm` again finishes it.
    Removing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Creating => "creating",
            State::Ready => "ready",
            State::Removing => "removing",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slot {
    pub version: u32,
    pub name: String,
    pub branch: String,
    pub path: PathBuf,
    pub state: State,
    /// What the branch is compared with (merged? ahead/behind?): a branch, or the commit of
    /// a detached HEAD the slot started from.
    pub base: String,
    /// When `base` is a detached HEAD's commit: the branch that HEAD was checked out from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_from: Option<String>,
    /// Whether `add` created the branch (so rolling back deletes it).
    #[serde(default)]
    pub created_branch: bool,
    /// Whether the worktree existed before git-agent (made a slot by `adopt`).
    #[serde(default)]
    pub adopted: bool,
    pub k: u32,
    pub ports: BTreeMap<String, u16>,
    pub env_file: String,
    /// The variables in the env file's managed block.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// The process that is creating or removing the slot, for messages only: whether it still
    /// runs is told by the slot's lock (`slot_lock.rs`), never by this pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The step a command was at when it last saved the record (`worktree`, `database`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The commit a branch `add` creates starts from, recorded before the branch is made: a
    /// branch still at that commit holds nothing of anyone's and goes with a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// git's name for the worktree (`<git-common-dir>/worktrees/<id>`), to follow it when
    /// `git worktree move` moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree_id: Option<String>,
    /// Paths (relative to the slot) `[setup] copy` is about to create, recorded before it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copied: Vec<PathBuf>,
    /// Why the last attempt to finish this slot (a rollback, a removal) stopped short; `ls`
    /// and `doctor` show it with the command that finishes the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken: Option<String>,
    /// Directories `add` created to hold the worktree (deepest first), recorded before they
    /// are made so that `prune` can take them back, if still empty, after a killed `add`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub made_dirs: Vec<PathBuf>,
    /// Lines `add` appended to the repository's `info/exclude`, recorded likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// A `git agent merge` of the slot under way, or stopped by a kill (its lock then free):
    /// where the branch and its base were before it, for `doctor` and the next merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merging: Option<Merging>,
}

/// What a merge records before it changes anything (`step` says how far it got).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merging {
    /// The branch it lands on.
    pub into: String,
    /// The commit `into` pointed at before.
    pub base: String,
    /// The commit the slot's branch pointed at before.
    pub tip: String,
}

impl Slot {
    /// The base as messages name it: `main`, or `commit 1a2b3c4d (a detached HEAD, from main)`.
    pub fn base_text(&self) -> String {
        base_text(&self.base, self.base_from.as_deref())
    }

    /// Saves the record with what the next step is about to make, before it makes it.
    pub fn intend(
        &mut self,
        common_dir: &Path,
        step: &str,
        change: impl FnOnce(&mut Slot),
    ) -> Result<()> {
        change(self);
        self.step = Some(step.to_string());
        save(common_dir, self)
    }

    /// The state as `ls` and `doctor` show it: `creating`, `broken: ...`.
    pub fn state_text(&self) -> String {
        match &self.broken {
            Some(why) => format!("broken: {why}"),
            None => self.state.as_str().to_string(),
        }
    }
}

/// `base` as messages name it: a branch as it is, a commit id shortened and said to be one.
pub fn base_text(base: &str, from: Option<&str>) -> String {
    let is_commit = base.len() >= 40 && base.chars().all(|c| c.is_ascii_hexdigit());
    if !is_commit {
        return base.to_string();
    }
    match from {
        Some(branch) => format!("commit {} (a detached HEAD, from {branch})", &base[..8]),
        None => format!("commit {} (a detached HEAD)", &base[..8]),
    }
}

pub fn slots_dir(common_dir: &Path) -> PathBuf {
    common_dir.join("agent").join("slots")
}

fn record_path(common_dir: &Path, name: &str) -> PathBuf {
    slots_dir(common_dir).join(format!("{name}.toml"))
}

pub fn save(common_dir: &Path, slot: &Slot) -> Result<()> {
    let text = toml::to_string(slot).context("could not encode the slot record")?;
    // The records hold database URLs, which may carry passwords.
    fsutil::create_private_dir(&slots_dir(common_dir))?;
    fsutil::write_atomic(&record_path(common_dir, &slot.name), text.as_bytes())
}

pub fn remove_record(common_dir: &Path, name: &str) -> Result<()> {
    match std::fs::remove_file(record_path(common_dir, name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("could not remove the record of slot {name}")),
    }
}

pub fn exists(common_dir: &Path, name: &str) -> bool {
    record_path(common_dir, name).exists()
}

pub fn load(common_dir: &Path, name: &str) -> Result<Slot> {
    let path = record_path(common_dir, name);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let slot: Slot = toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the slot record {} is damaged ({}); see `git worktree list` for its worktree and \
             save or remove that, then delete this file: `git agent prune` then releases its ports",
            path.display(),
            e.message()
        )
    })?;
    if slot.version != VERSION {
        bail!(
            "the slot record {} has version {}, this git-agent reads version {VERSION}; use the git-agent that wrote it",
            path.display(),
            slot.version
        );
    }
    Ok(slot)
}

/// Every slot of the repository, sorted by name. A damaged record is reported on stderr and
/// skipped, so one bad file does not hide the other slots.
pub fn load_all(common_dir: &Path) -> Result<Vec<Slot>> {
    let dir = slots_dir(common_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", dir.display())),
    };
    let mut slots = Vec::new();
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".toml") else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        match load(common_dir, name) {
            Ok(slot) => slots.push(slot),
            Err(e) => eprintln!("git-agent: warning: {e:#}"),
        }
    }
    slots.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(slots)
}

/// Finds a slot by name, or by branch name. A name wins over a branch; when the text is
/// also another slot's branch, that is said, so one word never silently means two slots.
pub fn find(common_dir: &Path, wanted: &str) -> Result<Slot> {
    if crate::names::check_slot_name(wanted).is_ok() && exists(common_dir, wanted) {
        let slot = load(common_dir, wanted)?;
        if let Some(other) = load_all(common_dir)?
            .into_iter()
            .find(|s| s.name != slot.name && s.branch == wanted)
        {
            eprintln!(
                "git-agent: note: '{wanted}' is slot {wanted} (branch {}); slot {} has branch {wanted}: name that one `{}`",
                slot.branch, other.name, other.name
            );
        }
        return Ok(slot);
    }
    let all = load_all(common_dir)?;
    if let Some(slot) = all.iter().find(|s| s.branch == wanted) {
        return Ok(slot.clone());
    }
    let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
    if names.is_empty() {
        bail!(
            "no slot '{wanted}': this repository has no slots yet; create one with `git agent add <branch>`"
        );
    }
    bail!(
        "no slot '{wanted}' in this repository; slots: {}",
        names.join(", ")
    )
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
