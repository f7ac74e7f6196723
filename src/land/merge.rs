//! `git agent merge`, the plan: what landing a slot's branch on its base will do, settled and
//! checked before anything changes. Every refusal happens here, so a refused merge has
//! changed nothing: a slot with uncommitted or untracked changes, a base worktree whose own
//! changes stand in the way, commands not approved. `landing` carries the plan out.

use std::path::PathBuf;

use anyhow::{Result, bail};
use gix::ObjectId;

use super::integration::{self, How, Verdict};
use crate::config::Config;
use crate::error::{Kind, fail, refused};
use crate::git::{self, Repo};
use crate::setup::approvals;
use crate::slot::{Slot, State};

/// How the branch lands on the base, once it is rebased onto it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One new commit on the base with the branch's changes.
    Squash,
    /// The branch's commits, fast-forwarded.
    Rebase,
    /// A merge commit whose second parent is the (rebased) branch.
    NoFf,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Squash => "squash",
            Strategy::Rebase => "rebase",
            Strategy::NoFf => "no-ff",
        }
    }
}

/// What the user asked for.
pub struct Request {
    pub into: Option<String>,
    pub strategy: Strategy,
    pub message: Option<String>,
    /// Run `[merge] test` (not `--no-test`).
    pub test: bool,
    /// `--yes`: run the repository's commands this once without approval.
    pub yes: bool,
    /// `--dry-run`: report unapproved commands instead of asking about them.
    pub dry_run: bool,
}

pub const MERGE: approvals::Purpose = approvals::Purpose {
    what: "merge commands",
    where_: "when a slot lands",
    skip: "--no-test to skip the tests",
};

/// Everything the landing needs, checked.
#[derive(Debug)]
pub struct Plan {
    pub slot: Slot,
    /// The local branch it lands on.
    pub into: String,
    /// The base's commit when planned (the landing re-reads it under its lock).
    pub base: ObjectId,
    pub tip: ObjectId,
    pub strategy: Strategy,
    /// Already integrated into `into`: nothing lands, the slot is only removed.
    pub integrated: Option<How>,
    /// The worktree that has `into` checked out, if one has.
    pub worktree: Option<PathBuf>,
    /// The branch's commits not on the base, oldest first: abbreviated id and subject.
    pub commits: Vec<String>,
    /// The files the branch changed since it left the base.
    pub files: Vec<String>,
    pub test: Vec<String>,
    pub after: Vec<String>,
    /// Commands that still need approval (only with `dry_run`).
    pub unapproved: Vec<String>,
    /// The message of the commit the landing makes (squash and no-ff).
    pub message: Option<String>,
    /// The slot's `git status` as read when planning (clean, but for ignored files).
    pub changes: git::Changes,
}

pub fn plan(repo: &Repo, config: &Config, slot: Slot, req: &Request) -> Result<Plan> {
    if slot.state != State::Ready {
        return Err(crate::error::busy(format!(
            "slot {} is {}; wait for that command to finish (or run `git agent prune` if it was killed)",
            slot.name,
            slot.state.as_str()
        )));
    }
    if !slot.path.is_dir() {
        bail!(
            "slot {}'s directory {} is gone; `git agent prune` forgets it",
            slot.name,
            slot.path.display()
        );
    }
    if req.strategy == Strategy::Rebase && req.message.is_some() {
        return Err(fail(
            Kind::Usage,
            "-m applies to --squash and --no-ff: --rebase lands the branch's own commits",
        ));
    }
    let into = target_branch(repo, &slot, req.into.as_deref())?;
    let worktrees = repo.worktrees()?;
    let here = worktrees
        .iter()
        .find(|w| crate::fsutil::same_path(&w.path, &slot.path));
    if super::landing::rebase_in_progress(&slot.path) {
        return Err(refused(format!(
            "nothing was changed: a rebase is in progress in slot {} (a merge stopped half-way, or \
             one of your own): finish it (`git -C {} rebase --continue`) or undo it (`git -C {} rebase --abort`) first",
            slot.name,
            slot.path.display(),
            slot.path.display()
        )));
    }
    if here.and_then(|w| w.branch.as_deref()) != Some(slot.branch.as_str()) {
        return Err(refused(format!(
            "slot {} does not have its branch {} checked out (`git -C {} switch {}` first)",
            slot.name,
            slot.branch,
            slot.path.display(),
            slot.branch
        )));
    }
    // With the ignored files: the removal after the landing reuses it when nothing ran in the
    // slot meanwhile (and lists the ignored files it destroys).
    let changes = git::changes(&slot.path)?;
    if !changes.is_clean() {
        return Err(refused(format!(
            "nothing was changed: slot {} has changes that are not committed:{}\n\
             commit them (or stash them) and run `git agent merge` again",
            slot.name,
            list_changes(&changes)
        )));
    }
    let base = repo
        .resolve(&format!("refs/heads/{into}"))
        .ok_or_else(|| anyhow::anyhow!("branch {into} does not resolve to a commit"))?;
    let tip = repo
        .resolve(&format!("refs/heads/{}", slot.branch))
        .ok_or_else(|| anyhow::anyhow!("branch {} does not resolve to a commit", slot.branch))?;
    let target = integration::Target {
        name: into.clone(),
        id: base,
    };
    let integrated = match integration::check(&repo.gix, &repo.main_worktree, tip, &[target])? {
        Verdict::Integrated { how, .. } => Some(how),
        Verdict::NotIntegrated(_) => None,
    };
    let files = super::content::changed_files(&repo.gix, tip, base)?;
    let worktree = worktrees
        .iter()
        .find(|w| w.branch.as_deref() == Some(into.as_str()))
        .map(|w| w.path.clone());
    let (test, after) = commands(config, req);
    // With tests to run, the base's worktree is checked now, before they take their time;
    // without, at landing (git refuses to overwrite its changes, and ignored files where the
    // landing adds one are checked then).
    if integrated.is_none()
        && !test.is_empty()
        && let Some(dir) = &worktree
    {
        let in_the_way = super::base::in_the_way(dir, &files)?;
        if !in_the_way.is_empty() {
            return Err(refused(super::base::in_the_way_message(
                &into,
                dir,
                &in_the_way,
            )));
        }
    }
    let commits = commits(repo, tip, base)?;
    let mut unapproved = Vec::new();
    if config.merge_from_repo && !req.yes {
        let wanted: Vec<String> = test.iter().chain(&after).cloned().collect();
        if req.dry_run {
            unapproved = approvals::load()?.pending(&repo.common_dir, &wanted);
        } else if !wanted.is_empty() && integrated.is_none() {
            let template = config
                .template_file
                .clone()
                .unwrap_or_else(|| crate::config::TEMPLATE_FILE.into());
            approvals::require_for(&repo.common_dir, &template, &wanted, &MERGE)?;
        }
    }
    let message = match req.strategy {
        Strategy::Rebase => None,
        Strategy::Squash => Some(
            req.message
                .clone()
                .unwrap_or_else(|| squash_message(repo, &slot, tip, base)),
        ),
        Strategy::NoFf => Some(req.message.clone().unwrap_or_else(|| {
            let mut text = format!("Merge branch '{}'", slot.branch);
            if into != "main" && into != "master" {
                text.push_str(&format!(" into {into}"));
            }
            if let Some(task) = slot
                .task
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                text.push_str(&format!("\n\n{task}"));
            }
            text
        })),
    };
    Ok(Plan {
        slot,
        into,
        base,
        tip,
        strategy: req.strategy,
        integrated,
        worktree,
        commits,
        files,
        test,
        after,
        unapproved,
        message,
        changes,
    })
}

/// The local branch to land on: `--into`, else the slot's base, which must be a local branch.
fn target_branch(repo: &Repo, slot: &Slot, into: Option<&str>) -> Result<String> {
    let wanted = into.unwrap_or(&slot.base);
    let name = wanted.strip_prefix("refs/heads/").unwrap_or(wanted);
    if !repo.local_branch_exists(name) {
        let why = if into.is_some() {
            format!("--into {wanted} is not a local branch")
        } else {
            format!("the slot's base {wanted} is not a local branch")
        };
        return Err(fail(
            Kind::Usage,
            format!("{why}; name the branch to land on with --into BRANCH"),
        ));
    }
    if name == slot.branch {
        return Err(fail(
            Kind::Usage,
            format!(
                "slot {} is on {name} itself; name another branch with --into",
                slot.name
            ),
        ));
    }
    Ok(name.to_string())
}

fn commands(config: &Config, req: &Request) -> (Vec<String>, Vec<String>) {
    let merge = config.template.merge.clone().unwrap_or_default();
    let test = if req.test { merge.test } else { Vec::new() };
    (test, merge.after)
}

/// The branch's commits not on `base`, oldest first.
fn commits(repo: &Repo, tip: ObjectId, base: ObjectId) -> Result<Vec<String>> {
    let mut list = Vec::new();
    for info in repo.gix.rev_walk([tip]).with_hidden([base]).all()? {
        let id = info?.id;
        let subject = repo
            .gix
            .find_commit(id)
            .ok()
            .and_then(|c| c.message().ok().map(|m| m.summary().to_string()))
            .unwrap_or_default();
        list.push(format!("{} {subject}", id.to_hex_with_len(7)));
    }
    list.reverse();
    Ok(list)
}

/// The squash commit's message: the task note (else the branch's name), then the subjects of
/// the commits it squashes; a single commit without a task note keeps its own message.
fn squash_message(repo: &Repo, slot: &Slot, tip: ObjectId, base: ObjectId) -> String {
    let messages: Vec<String> = repo
        .gix
        .rev_walk([tip])
        .with_hidden([base])
        .all()
        .map(|walk| {
            walk.filter_map(Result::ok)
                .filter_map(|info| repo.gix.find_commit(info.id).ok())
                .filter_map(|c| c.message_raw().ok().map(|m| m.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let task = slot
        .task
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if task.is_none() && messages.len() == 1 {
        return messages[0].trim_end().to_string();
    }
    let mut text = task.map_or_else(|| slot.branch.clone(), str::to_string);
    if !messages.is_empty() {
        text.push_str("\n\n");
        for message in messages.iter().rev() {
            let subject = message.lines().next().unwrap_or("").trim();
            text.push_str(&format!("* {subject}\n"));
        }
    }
    text.trim_end().to_string()
}

fn list_changes(changes: &git::Changes) -> String {
    let mut text = String::new();
    for (what, files) in [
        ("staged", &changes.staged),
        ("modified", &changes.modified),
        ("untracked", &changes.untracked),
    ] {
        for file in files.iter().take(10) {
            text.push_str(&format!("\n    {what:<9} {file}"));
        }
        if files.len() > 10 {
            text.push_str(&format!("\n    ... and {} more {what}", files.len() - 10));
        }
    }
    text
}
