//! Removing slots without losing work (`rm`, and `merge` once a branch has landed). Every
//! slot named is checked first (`plan`); if anything would be lost, nothing is removed and
//! the message lists it. Removal itself (`steps`) is idempotent: a second `rm` after a
//! failure finishes the job.

use anyhow::Result;
use serde_json::json;

use crate::cli::Rm;
use crate::context::Ctx;
use crate::git;
use crate::slot::{self, Slot, State};
use crate::slot_lock::SlotLock;

mod plan;
mod steps;

use plan::{BranchFate, Plan};

/// Removes the slots `args` names (or the one the current directory is in), all or none:
/// every slot is checked first, and if removing any would lose work, nothing is removed
/// (unless --force). Returns what was removed, for `--json`.
pub fn remove_slots(ctx: &Ctx, args: &Rm) -> Result<Vec<serde_json::Value>> {
    // A damaged registry would stop the removal at its last step, after the worktree is gone.
    crate::registry::load()?;
    let common = &ctx.repo.common_dir;
    // With no SLOT, the slot the current directory is in.
    let slots = if args.slots.is_empty() {
        vec![ctx.slot_here("rm")?]
    } else {
        let found: Result<Vec<Slot>> = args.slots.iter().map(|w| slot::find(common, w)).collect();
        found?
    };
    let mut plans = Vec::new();
    for found in slots {
        if plans.iter().any(|p: &Plan| p.slot.name == found.name) {
            continue;
        }
        // A slot an `add` is still making (or another command is changing) is not removed
        // under it: busy, exit 4.
        let lock = SlotLock::acquire(common, &found.name, "rm")?;
        let slot = slot::load(common, &found.name)?;
        plans.push(plan::plan(&ctx.repo, slot, lock, args, None)?);
    }
    let refused: Vec<&Plan> = plans.iter().filter(|p| !p.losses.is_empty()).collect();
    if !refused.is_empty() && !args.force {
        let mut text = String::from("nothing was removed; removing would lose:\n");
        for plan in &refused {
            text.push_str(&format!(
                "  slot {} ({}):\n",
                plan.slot.name,
                plan.slot.path.display()
            ));
            for loss in &plan.losses {
                text.push_str(&format!("    - {loss}\n"));
            }
        }
        text.push_str("commit or stash what you want to keep, or pass --force to remove anyway");
        if refused
            .iter()
            .any(|p| p.losses.iter().any(|l| l.contains("commit")))
            && !args.delete_branch
        {
            text.push_str(" (--keep-branch removes the slot and keeps its commits on the branch)");
        }
        return Err(crate::error::refused(text));
    }
    // Never pull the directory out from under a running server or agent unless told to.
    let going: Vec<(&str, &std::path::Path)> = plans
        .iter()
        .filter(|p| p.slot.path.is_dir())
        .map(|p| (p.slot.name.as_str(), p.slot.path.as_path()))
        .collect();
    crate::procs::clear_slot(&going, args.kill, args.force)?;
    let mut removed = Vec::new();
    for plan in plans {
        let stood_inside = ctx.cwd.starts_with(&plan.slot.path);
        let mut done = json!({
            "name": plan.slot.name,
            "path": plan.slot.path,
            "branch": plan.slot.branch,
            "branch_deleted": matches!(plan.branch, BranchFate::Delete(_)),
            "ignored_removed": plan.ignored,
        });
        let name = plan.slot.name.clone();
        match steps::remove(ctx, plan, args) {
            Ok(released) => done["released"] = json!(released),
            Err(e) => {
                keep_broken(common, &name, &e);
                return Err(e);
            }
        }
        removed.push(done);
        // The shell stood in the directory just removed: with shell integration, it moves to
        // the main worktree at its next prompt.
        if stood_inside && let Err(e) = crate::shell::send_cd(&ctx.repo.main_worktree) {
            eprintln!("git-agent: warning: could not move the shell out of the slot: {e:#}");
        }
    }
    Ok(removed)
}

/// Removes a slot whose branch `merge` has just landed: the same checks and steps as
/// `git agent rm SLOT [--kill]`, so it refuses (and `rm` finishes) exactly where `rm` would.
/// `known`: the slot's status as `merge` read it before landing, when nothing ran in the slot
/// since (no test, no hook of its rebase, no ignore rule changed) and no process was found
/// there (it then looks neither again); `None` reads both again. rm itself has the same gap between its check and the
/// removal.
/// `lock`: the slot's lock, which `merge` has held since before it planned.
pub fn remove_landed(
    ctx: &Ctx,
    slot: Slot,
    lock: SlotLock,
    kill: bool,
    known: Option<git::Changes>,
) -> Result<()> {
    let scan = known.is_none();
    let args = Rm {
        slots: vec![slot.name.clone()],
        force: false,
        kill,
        delete_branch: false,
        keep_branch: false,
        json: false,
    };
    // Read again, as `rm` does (under the lock merge holds).
    let slot = slot::load(&ctx.repo.common_dir, &slot.name)?;
    let plan = plan::plan(&ctx.repo, slot, lock, &args, known)?;
    if !plan.losses.is_empty() {
        return Err(crate::error::refused(format!(
            "removing slot {} would lose:\n    - {}",
            plan.slot.name,
            plan.losses.join("\n    - ")
        )));
    }
    if scan && plan.slot.path.is_dir() {
        crate::procs::clear_slot(&[(&plan.slot.name, &plan.slot.path)], kill, false)?;
    }
    let stood_inside = ctx.cwd.starts_with(&plan.slot.path);
    steps::remove(ctx, plan, &args)?;
    if stood_inside && let Err(e) = crate::shell::send_cd(&ctx.repo.main_worktree) {
        eprintln!("git-agent: warning: could not move the shell out of the slot: {e:#}");
    }
    Ok(())
}

/// Marks the record of a removal that stopped on an error (not an interruption) as broken,
/// with the reason, for `ls` and `doctor`; `rm` again (or `prune`) finishes it.
fn keep_broken(common: &std::path::Path, name: &str, error: &anyhow::Error) {
    if crate::error::kind(error) == crate::error::Kind::Interrupted {
        return;
    }
    if let Ok(mut record) = slot::load(common, name)
        && record.state == State::Removing
    {
        record.broken = Some(format!("{error:#}"));
        let _ = slot::save(common, &record);
    }
}
