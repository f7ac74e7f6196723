//! The removal's steps, once the plan found nothing to lose: mark the record, release the
//! slot's data, remove the worktree, settle the branch, give back the lease. Each step is a
//! transaction step, so an interruption leaves a record `rm` or `prune` finishes.

use anyhow::Result;

use super::plan::{BranchFate, Plan, sample};
use crate::cli::Rm;
use crate::context::Ctx;
use crate::git::Repo;
use crate::slot::{self, Slot, State};
use crate::slot_worktree as worktree;
use crate::{services, txn};

/// Removes the slot; returns what of its data was released.
pub fn remove(ctx: &Ctx, plan: Plan, args: &Rm) -> Result<Vec<String>> {
    let Plan {
        mut slot,
        ignored,
        branch,
        ..
    } = plan;
    let common = &ctx.repo.common_dir;
    let mut steps = txn::Txn::new();
    steps.step("mark")?;
    slot.state = State::Removing;
    slot.pid = Some(std::process::id());
    slot.broken = None;
    // From here on the record says whether the branch goes, for a `prune` that finishes the
    // job after this process is killed (it deletes it only if merged, like rm by default).
    slot.created_branch = matches!(branch, BranchFate::Delete(_));
    slot::save(common, &slot)?;
    if !ignored.is_empty() {
        eprintln!(
            "git-agent: removing {} ignored file(s) with slot {}: {}",
            ignored.len(),
            slot.name,
            sample(&ignored)
        );
    }
    steps.step("services")?;
    let mut released = Vec::new();
    let owner = services::namespaces::Owner {
        repo: common,
        name: &slot.name,
    };
    match services::release(&slot.resources, owner) {
        Ok(done) => {
            for what in done {
                eprintln!("git-agent: released {what}");
                released.push(what);
            }
        }
        // A server that is gone for good must not make a slot impossible to remove; with
        // --force the slot goes and the user is told exactly what is left to release.
        Err(e) if args.force => eprintln!(
            "git-agent: warning: could not release the slot's data ({e:#}); removing the slot anyway (--force). \
             Left behind, to release by hand: {}",
            services::describe_resources(&slot.resources)
        ),
        Err(e) => {
            return Err(e.context(format!(
                "could not release the data of slot {}; nothing else was removed. Run `git agent rm {}` again \
                 when the server is reachable, or add --force to remove the slot and release it by hand",
                slot.name, slot.name
            )));
        }
    }
    steps.step("worktree")?;
    // Whatever state an earlier, interrupted removal left it in (the `.git` file gone, a
    // process still writing into it, only git's entry left).
    worktree::remove(&ctx.repo, &slot.path)?;
    remove_empty_holder(&ctx.repo, &slot);
    steps.step("branch")?;
    match &branch {
        BranchFate::Delete(why) => match worktree::delete_branch(&ctx.repo, &slot.branch)? {
            None => eprintln!("git-agent: deleted branch {} ({why})", slot.branch),
            Some(kept) => eprintln!("git-agent: {kept}"),
        },
        BranchFate::Keep(why) => eprintln!("git-agent: branch {} {why}", slot.branch),
        BranchFate::Gone => {}
    }
    steps.step("release")?;
    crate::provision::release_lease(common, &slot.name)?;
    // The record is gone and the lock still held: a kill here leaves only the lock file.
    crate::txn::checkpoint("released");
    steps.commit();
    eprintln!(
        "git-agent: removed slot {} ({})",
        slot.name,
        slot.path.display()
    );
    Ok(released)
}

/// Once the last slot is gone, the directory that held the slots goes too: the ones `add`
/// made for this slot, and the default `<repo>-worktrees`, each only when empty.
fn remove_empty_holder(repo: &Repo, slot: &Slot) {
    crate::provision::remove_empty_dirs(&repo.common_dir, &slot.made_dirs);
    let Some(parent) = slot.path.parent() else {
        return;
    };
    let default = repo
        .default_slot_path(&slot.name)
        .is_some_and(|p| p.parent() == Some(parent));
    let keep = [&repo.main_worktree, &repo.common_dir]
        .iter()
        .any(|d| d.starts_with(parent));
    // Under the repository's lock, as an `add` makes it and its worktree under that lock.
    if default
        && !keep
        && let Ok(_lock) = crate::git::repo_lock(&repo.common_dir)
    {
        let _ = std::fs::remove_dir(parent);
    }
}
