//! `git agent add`: worktree, branch, port lease, data services and env file, as one
//! transaction that undoes itself on any error or Ctrl-C (the steps are in
//! `crate::provision`); or, for an existing slot's name or branch, going there.

use anyhow::Result;

use crate::cli::Add;
use crate::context::Ctx;
use crate::provision::{self, kept_after_failure, report, task_and_setup};
use crate::slot::Slot;
use crate::txn::{self, Txn};

pub fn run(args: &Add) -> Result<()> {
    let ctx = Ctx::load()?;
    // One verb to go: an existing slot's name or branch goes there instead of making another.
    if let Some(slot) = provision::existing(&ctx, args)? {
        return go(&ctx, slot, args);
    }
    let plan = provision::plan_branch(&ctx, args)?;
    let (task, setup) = task_and_setup(&ctx, &args.prep)?;
    txn::install_handler();
    let (created, setup_failed) =
        Txn::new().run(|txn| provision::create(&ctx, args, &plan, task, &setup, txn))?;
    if args.name.is_none() && created.name != crate::names::slot_name(&created.branch) {
        eprintln!(
            "git-agent: note: the name {} was taken by another slot, so this one is {}",
            crate::names::slot_name(&created.branch),
            created.name
        );
    }
    report(&created, args.json, true)?;
    if let Some(e) = setup_failed {
        return Err(kept_after_failure(&created, e));
    }
    enter(&ctx, &created, args)
}

/// Goes to an existing slot as `add` goes to a new one: its path (or JSON) on stdout, the
/// shell moved there, or CMD run in it.
fn go(ctx: &Ctx, slot: Slot, args: &Add) -> Result<()> {
    eprintln!(
        "git-agent: slot {} exists (branch {}); going there (`git agent add --new` makes a new one)",
        slot.name, slot.branch
    );
    report(&slot, args.json, false)?;
    enter(ctx, &slot, args)
}

/// After `add` made the slot or found it: CMD run in it, else (with shell integration) the
/// user's shell moved into it at its next prompt.
fn enter(ctx: &Ctx, slot: &Slot, args: &Add) -> Result<()> {
    if !args.command.is_empty() {
        let env = ctx.slot_env(slot);
        return crate::context::run_child(&slot.path, &args.command, &env);
    }
    if !args.no_cd
        && let Err(e) = crate::shell::send_cd(&slot.path)
    {
        eprintln!("git-agent: warning: could not move the shell into the slot: {e:#}");
    }
    Ok(())
}
