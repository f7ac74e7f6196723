//! What removing a slot would lose and do, read before anything is touched: the changes and
//! commits it would lose (the refusals), the ignored files that go with it, and the fate of
//! its branch. Kept apart from the removal's steps so the checks can be read on their own.

use anyhow::Result;

use crate::cli::Rm;
use crate::fsutil::same_path;
use crate::git::{self, Repo};
use crate::services;
use crate::slot::{Slot, State};
use crate::slot_lock::SlotLock;
use crate::slot_worktree::{self as worktree, Place};

/// What removing a slot would do to its branch.
#[derive(Debug, PartialEq)]
pub enum BranchFate {
    /// Deleted, and why that loses nothing.
    Delete(String),
    Keep(String),
    Gone,
}

pub struct Plan {
    pub slot: Slot,
    /// Held from the checks to the end: no other command changes the slot meanwhile.
    _lock: SlotLock,
    pub losses: Vec<String>,
    pub ignored: Vec<String>,
    pub branch: BranchFate,
}

/// What removing `slot` would lose and do. `known`: the worktree's `git status` when the
/// caller has just read it and nothing ran in the slot since (`merge`).
pub fn plan(
    repo: &Repo,
    mut slot: Slot,
    lock: SlotLock,
    args: &Rm,
    known: Option<git::Changes>,
) -> Result<Plan> {
    let mut losses = Vec::new();
    let mut ignored = Vec::new();
    follow_move(repo, &mut slot)?;
    let exists = slot.path.is_dir();
    // A removal already under way may have left the worktree half-deleted (its `.git` file
    // goes first): git can no longer say what is in it, and the checks were passed before.
    let half_removed =
        slot.state == State::Removing && !worktree::intact(&repo.common_dir, &slot.path);
    if exists && !half_removed {
        let changes = match known {
            Some(changes) => changes,
            None => git::changes(&slot.path)?,
        };
        for (what, list) in [
            ("staged change", &changes.staged),
            ("uncommitted change", &changes.modified),
            ("untracked file", &changes.untracked),
        ] {
            if !list.is_empty() {
                losses.push(format!(
                    "{} {what}{}: {}",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    sample(list)
                ));
            }
        }
        ignored = own_files_left_out(&slot, changes.ignored);
        if let Some(wt) = repo
            .worktrees()?
            .into_iter()
            .find(|w| same_path(&w.path, &slot.path))
        {
            if wt.locked {
                losses.push("the worktree is locked (`git worktree unlock` it first if that was not on purpose)".into());
            }
            if wt.branch.is_none() {
                let mut cmd = git::git_in(&slot.path);
                cmd.args([
                    "rev-list",
                    "--count",
                    "HEAD",
                    "--not",
                    "--branches",
                    "--remotes",
                    "--tags",
                ]);
                let orphans: usize = git::run(cmd)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                if orphans > 0 {
                    losses.push(format!(
                        "{orphans} commit(s) on a detached HEAD that no branch or tag holds"
                    ));
                }
            }
        }
    } else if slot.state == State::Ready && !slot.adopted {
        losses.push(
            "its directory is gone (moved or deleted by hand); if you moved it, run `git worktree repair <new path>`; \
             --force (or `git agent prune`) forgets it without touching files elsewhere"
                .to_string(),
        );
    }
    let owner = services::namespaces::Owner {
        repo: &repo.common_dir,
        name: &slot.name,
    };
    if let Some(why) = services::namespaces::redis_conflict(&slot.resources, owner)? {
        losses.push(why);
    }
    let branch = branch_fate(repo, &slot, args, &mut losses)?;
    Ok(Plan {
        slot,
        _lock: lock,
        losses,
        ignored,
        branch,
    })
}

/// A slot whose worktree `git worktree move` moved is removed where it now is: its record
/// (and lease) follow git's entry first.
fn follow_move(repo: &Repo, slot: &mut Slot) -> Result<()> {
    let common = &repo.common_dir;
    if let Place::Moved(to) = worktree::locate(common, &slot.path, slot.worktree_id.as_deref()) {
        eprintln!(
            "git-agent: slot {} was moved to {} (git worktree move); removing it there",
            slot.name,
            to.display()
        );
        worktree::follow(common, slot, to)?;
    }
    Ok(())
}

fn branch_fate(
    repo: &Repo,
    slot: &Slot,
    args: &Rm,
    losses: &mut Vec<String>,
) -> Result<BranchFate> {
    use crate::land::integration::{self, Verdict};
    let Some(mut verdict) = integration::of_branch(repo, &slot.branch, &slot.base)? else {
        return Ok(BranchFate::Gone);
    };
    // A slot made on a detached HEAD is merged once its work is on that commit or on the
    // branch the HEAD was checked out from.
    if let (Verdict::NotIntegrated(_), Some(from)) = (&verdict, slot.base_from.as_deref())
        && let Some(found @ Verdict::Integrated { .. }) =
            integration::of_branch(repo, &slot.branch, from)?
    {
        verdict = found;
    }
    let merged = match &verdict {
        Verdict::Integrated { into, how } => {
            Some(format!("integrated into {into}: {}", how.describe()))
        }
        Verdict::NotIntegrated(_) => None,
    };
    if let Verdict::NotIntegrated(missing) = &verdict
        && !args.keep_branch
    {
        // Not integrated, but maybe pushed: commits on the branch's own upstream are safe.
        let upstream = repo.upstream(&slot.branch);
        if let Some(loss) = integration::refusal(repo, &slot.branch, missing, upstream.as_deref())?
        {
            // A detached HEAD's base is a commit id: named as one.
            losses.push(loss.replace(&slot.base, &slot.base_text()));
        }
    }
    if let Some(why) = &merged
        && !args.keep_branch
        && (slot.created_branch || args.delete_branch)
    {
        return Ok(BranchFate::Delete(why.clone()));
    }
    if args.delete_branch && !args.keep_branch {
        return Ok(BranchFate::Delete("--delete-branch".into()));
    }
    let why = if args.keep_branch {
        "kept (--keep-branch)".to_string()
    } else if merged.is_some() {
        "kept: git-agent did not create it (delete it with --delete-branch)".to_string()
    } else {
        format!("kept: not merged into {}", slot.base_text())
    };
    Ok(BranchFate::Keep(why))
}

/// Ignored files removal destroys, minus git-agent's own: its directory, and the env file
/// unless the user wrote lines of their own into it (then it is named, so they know).
fn own_files_left_out(slot: &Slot, ignored: Vec<String>) -> Vec<String> {
    ignored
        .into_iter()
        .filter_map(|path| {
            if path == ".git-agent/" {
                return None;
            }
            if path == slot.env_file {
                let text = std::fs::read_to_string(slot.path.join(&path)).unwrap_or_default();
                let own = crate::envfile::without_block(&text).unwrap_or(text);
                let lines = own.lines().filter(|l| !l.trim().is_empty()).count();
                return (lines > 0).then(|| format!("{path} ({lines} line(s) of your own)"));
            }
            Some(path)
        })
        .collect()
}

/// The first few of a list, and how many more.
pub fn sample(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
    let more = list.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}
