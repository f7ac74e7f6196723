//! `git agent merge` from start to end: the slot's lock, the plan, the processes in the slot,
//! the landing, then the removal, in that order. `cmd/merge.rs` only turns the command line
//! into a [`Request`] and prints what this returns.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use super::base::{self, Moved, short};
use super::landing::{self, Envs, Landed};
use super::merge::{self, Plan, Request};
use crate::context::Ctx;
use crate::slot::{self, Slot};
use crate::slot_lock::SlotLock;

/// What the command line asks beyond the plan's request.
pub struct Options {
    pub slot: Option<String>,
    /// `--keep`: land, and leave the slot.
    pub keep: bool,
    /// `--kill`: stop what runs in the slot instead of refusing.
    pub kill: bool,
}

/// What a merge did (or, for a dry run, would do).
pub enum Outcome {
    Planned(Plan),
    Landed {
        plan: Plan,
        landed: Landed,
        removed: bool,
    },
}

pub fn run(ctx: &Ctx, request: &Request, options: &Options) -> Result<Outcome> {
    // A damaged registry would stop the removal at its last step, after the landing.
    crate::registry::load()?;
    let found = ctx.slot_or_here(options.slot.as_deref(), "merge")?;
    let common = &ctx.repo.common_dir;
    // The slot's lock for the whole merge, removal included: no `rm`, `prune` or other
    // `merge` of it meanwhile (busy, exit 4). A dry run changes nothing and takes none.
    let lock = match request.dry_run {
        true => None,
        false => Some(SlotLock::acquire(common, &found.name, "merge")?),
    };
    let slot = match lock {
        Some(_) => slot::load(common, &found.name)?,
        None => found,
    };
    if let (Some(stopped), Some(_)) = (&slot.merging, &lock) {
        // The lock was free, so the merge that wrote this was killed.
        eprintln!(
            "git-agent: warning: an earlier `git agent merge` of slot {} into {} was stopped at step {}{}",
            slot.name,
            stopped.into,
            slot.step.as_deref().unwrap_or("?"),
            if matches!(slot.step.as_deref(), Some("land" | "after")) {
                "; if it landed, its [merge] after commands may not have run to the end: check them"
            } else {
                ""
            }
        );
    }
    let plan = merge::plan(&ctx.repo, &ctx.config, slot, request)?;
    if request.dry_run {
        return Ok(Outcome::Planned(plan));
    }
    // Nothing may run in the slot while its files are rebased under it, nor be cut off when it
    // goes; `--kill` stops what does. (Not looked for while the plan runs git in the slot: that
    // git would be found.)
    crate::procs::clear_slot(&[(&plan.slot.name, &plan.slot.path)], options.kill, false).map_err(
        |e| match e.downcast_ref::<crate::error::Failure>() {
            // `merge` has no --force: it does not rebase files under a running program.
            Some(f) => crate::error::fail(
                f.kind,
                f.message
                    .replace(", or --force to go ahead while they run", "")
                    .replace("nothing was removed", "nothing was changed"),
            ),
            None => e,
        },
    )?;
    let envs = envs(ctx, &plan.slot);
    let landed = landing::land(&ctx.repo, &plan, &envs)?;
    let lock = lock.context("a merge holds the slot's lock")?;
    // The landing stands: the record no longer says a merge is under way.
    let mut slot = slot::load(common, &plan.slot.name)?;
    if slot.merging.is_some() {
        slot.merging = None;
        slot.step = None;
        slot::save(common, &slot)?;
    }
    if let Some(moved) = &landed.moved {
        base::post_merge(&ctx.repo, moved);
    }
    say_landed(&plan, &landed);
    if options.keep {
        return Ok(Outcome::Landed {
            plan,
            landed,
            removed: false,
        });
    }
    // Landed elsewhere than its base: that is where removal must find the work.
    if slot.base != plan.into {
        slot.base = plan.into.clone();
        slot::save(common, &slot)?;
    }
    let status = (landed.tested.is_empty() && landed.slot_as_planned).then(|| plan.changes.clone());
    crate::removal::remove_landed(ctx, slot, lock, options.kill, status).map_err(|e| {
        let what = match landed.new {
            Some(new) => format!(
                "{} landed on {} as {}",
                plan.slot.branch,
                plan.into,
                short(new)
            ),
            None => format!("nothing needed landing on {}", plan.into),
        };
        e.context(format!(
            "{what}, but slot {} could not be removed; `git agent rm {}` finishes it",
            plan.slot.name, plan.slot.name
        ))
    })?;
    Ok(Outcome::Landed {
        plan,
        landed,
        removed: true,
    })
}

/// The commands' environments: whatever a slot put into this process (through its shell
/// hook, or `exec`) is taken out first, so a test sees exactly its own slot's variables and
/// `[merge] after` sees the main worktree's.
fn envs(ctx: &Ctx, slot: &Slot) -> Envs {
    let records = crate::shell_env::outside_slots(&|n| ctx.config.allows(n));
    let slot_env = ctx.slot_env(slot);
    let mut unset: BTreeSet<String> = records.iter().map(|(k, _)| k.clone()).collect();
    // Set by this slot without the hook (`git agent exec SLOT -- git agent merge`): the value
    // gives it away.
    for (key, value) in &slot_env {
        if std::env::var(key).is_ok_and(|v| &v == value) {
            unset.insert(key.clone());
        }
    }
    for key in [
        "GIT_AGENT_SLOT",
        "GIT_AGENT_ROOT",
        crate::shell_env::STATE_VAR,
    ] {
        unset.insert(key.to_string());
    }
    let after: BTreeMap<String, String> = records
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let mut test = after.clone();
    test.extend(slot_env);
    Envs {
        unset: unset.into_iter().collect(),
        test,
        after,
    }
}

fn say_landed(plan: &Plan, landed: &Landed) {
    let slot = &plan.slot;
    match (&landed.new, &landed.moved) {
        (Some(new), Some(moved)) => {
            let how = match moved {
                Moved::Worktree(dir) => format!("fast-forward in {}", dir.display()),
                Moved::Ref => "its ref moved; it is not checked out anywhere".to_string(),
            };
            eprintln!(
                "git-agent: landed {} on {} as {} ({}, {} commit(s); {how})",
                slot.branch,
                plan.into,
                short(*new),
                plan.strategy.as_str(),
                plan.commits.len()
            );
        }
        _ => eprintln!(
            "git-agent: {} is already integrated into {}: nothing to land",
            slot.branch, plan.into
        ),
    }
}
