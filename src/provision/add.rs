//! `add`'s own steps: finding the existing slot its argument names (to go there instead),
//! and the transaction that makes a new one: the template's check, the lease, the branch and
//! worktree, then the steps shared with `adopt`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::branch::{Base, BranchPlan};
use super::{NewSlot, check_template, lease, prepare, remove_empty_dirs, slot_path};
use crate::cli::Add;
use crate::context::Ctx;
use crate::git::{self, Repo, repo_lock};
use crate::setup;
use crate::slot::{self, Slot};
use crate::slot_worktree as worktree;
use crate::txn::Txn;

/// The slot `args.branch` names, by name or branch, when add should go there rather than make
/// one. With `--new`, or with a flag that only shapes a new slot, naming one is an error, so a
/// name never silently means two slots.
pub fn existing(ctx: &Ctx, args: &Add) -> Result<Option<Slot>> {
    use crate::error::{Kind, fail};
    let wanted = args.branch.as_str();
    let slots = slot::load_all(&ctx.repo.common_dir)?;
    if let Some(name) = &args.name
        && let Some(other) = slots.iter().find(|s| s.branch == *name && s.name != *name)
    {
        return Err(fail(
            Kind::Usage,
            format!(
                "--name {name} is the branch of slot {}, so `{name}` would mean two slots; pick another name",
                other.name
            ),
        ));
    }
    let found = slots
        .iter()
        .find(|s| s.name == wanted)
        .or_else(|| slots.iter().find(|s| s.branch == wanted));
    let Some(slot) = found.cloned() else {
        return Ok(None);
    };
    let here = format!(
        "slot {} (branch {}, {})",
        slot.name,
        slot.branch,
        slot.path.display()
    );
    if args.new {
        return Err(fail(
            Kind::Usage,
            format!(
                "'{wanted}' is {here}, and --new asks for a new slot: `git agent add {wanted}` goes there; \
                 for a new slot, pick another branch"
            ),
        ));
    }
    let shaping = [
        ("--name", args.name.is_some()),
        ("--from", args.from.is_some()),
        ("--path", args.path.is_some()),
        (
            "--task",
            args.prep.task.is_some() || args.prep.task_file.is_some(),
        ),
        ("--no-setup", args.prep.no_setup),
        ("--keep-on-failure", args.prep.keep_on_failure),
    ];
    if let Some((flag, _)) = shaping.iter().find(|(_, given)| *given) {
        return Err(fail(
            Kind::Usage,
            format!(
                "'{wanted}' is {here}; {flag} is for a new slot: drop it to go there (`git agent task` changes a task)"
            ),
        ));
    }
    // Whether the command changing it still runs is told by the slot's lock, never by its pid.
    let (holder, slot) = match crate::slot_lock::as_it_stands(&ctx.repo.common_dir, slot)? {
        (holder, Some(slot)) => (holder, slot),
        // Rolled back meanwhile: nothing to go to.
        (_, None) => return Ok(None),
    };
    if slot.state != slot::State::Ready {
        let doing = if slot.state == slot::State::Creating {
            "created"
        } else {
            "removed"
        };
        if let Some(who) = holder {
            return Err(crate::error::busy(format!(
                "{here} is already being {doing} by {who}; run this again when it is done"
            )));
        }
        bail!(
            "{here} was left half {doing} by a git-agent command that was killed; `git agent prune` finishes that"
        );
    }
    if !slot.path.is_dir() {
        bail!("the directory of {here} is gone; `git agent prune` forgets the slot");
    }
    Ok(Some(slot))
}

pub fn create(
    ctx: &Ctx,
    args: &Add,
    plan: &(String, BranchPlan, Base),
    task: Option<String>,
    setup: &setup::Plan,
    txn: &mut Txn,
) -> Result<(Slot, Option<anyhow::Error>)> {
    let (branch, how, base) = plan;

    txn.step("validate")?;
    check_template(&ctx.config)?;

    txn.step("lease")?;
    let new = NewSlot {
        name: args.name.as_deref(),
        branch,
        base: &base.rev,
        base_from: base.from.as_deref(),
        created_branch: !matches!(how, BranchPlan::Existing),
        adopted: false,
        task,
    };
    let path = |name: &str| slot_path(ctx, args.path.as_deref(), name, branch);
    let mut slot = lease(ctx, new, path, txn)?;

    txn.step("worktree")?;
    {
        let _status = setup::progress::Status::start(&format!("checking out {}", slot.branch));
        add_worktree(&ctx.repo, &mut slot, how, txn)?;
    }
    prepare(ctx, slot, setup, txn)
}

fn add_worktree(repo: &Repo, slot: &mut Slot, how: &BranchPlan, txn: &mut Txn) -> Result<()> {
    // A new branch is made by its own `git branch` (which fails if the name exists), so that
    // the undo deletes only a branch this `add` made, never one a concurrent `add` won.
    let mut branch_cmd = repo.git();
    branch_cmd.arg("branch");
    let start = match how {
        BranchPlan::New { from } => {
            branch_cmd.args(["--no-track", "--", &slot.branch, from]);
            repo.resolve(from)
        }
        BranchPlan::Existing => None,
        BranchPlan::Track { remote } => {
            branch_cmd.args(["--track", "--", &slot.branch, remote]);
            repo.resolve(remote)
        }
    };
    let parent = slot
        .path
        .parent()
        .context("the slot path has no parent")?
        .to_path_buf();
    let made: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    // Intent: the record names the directories, the branch and its start commit before any
    // of them is made, so that whatever stops `add` from here on, `prune` can take them back.
    slot.intend(&repo.common_dir, "worktree", |s| {
        s.made_dirs = made.clone();
        s.start = start.map(|id| id.to_string());
    })?;
    // One undo for the whole step, registered before git starts: git may be stopped having
    // made the directory, its entry, the `.git` file, some files, or all of them (a
    // post-checkout hook runs last), and the undo copes with each.
    let branch_ours = std::rc::Rc::new(std::cell::Cell::new(slot.created_branch));
    {
        let repo = repo.clone();
        let (wt, branch, base) = (slot.path.clone(), slot.branch.clone(), slot.base.clone());
        let (ours, start) = (branch_ours.clone(), slot.start.clone());
        txn.on_undo("", move || {
            if worktree::remove(&repo, &wt)? {
                eprintln!("git-agent: undone: removed the worktree {}", wt.display());
            }
            if ours.get()
                && let Some(what) =
                    worktree::delete_new_branch(&repo, &branch, start.as_deref(), &base)?
            {
                eprintln!("git-agent: undone: {what}");
            }
            for dir in remove_empty_dirs(&repo.common_dir, &made) {
                eprintln!(
                    "git-agent: undone: removed the empty directory {}",
                    dir.display()
                );
            }
            Ok(())
        });
    }
    if slot.created_branch {
        let _lock = repo_lock(&repo.common_dir)?;
        if let Err(e) = git::run(branch_cmd) {
            if !crate::txn::interrupted() {
                // It exists: someone else's (a concurrent `add` of the same branch won).
                branch_ours.set(false);
                slot.intend(&repo.common_dir, "worktree", |s| s.created_branch = false)?;
            }
            return Err(e);
        }
    }
    {
        // The directories and the worktree in them under one lock: a failing `add` of another
        // slot takes back directories it made only while they are empty.
        let _lock = repo_lock(&repo.common_dir)?;
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
        let mut cmd = repo.git();
        cmd.args(["worktree", "add", "--quiet"])
            .arg(&slot.path)
            .arg(&slot.branch);
        git::run(cmd)?;
    }
    // git's name for the worktree, to follow it if it is moved.
    let id = worktree::worktree_id(&slot.path);
    slot.intend(&repo.common_dir, "worktree", |s| s.worktree_id = id)?;
    Ok(())
}
