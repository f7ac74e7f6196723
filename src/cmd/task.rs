//! `git agent task [SLOT] [--set TEXT | --set-file FILE]`: the slot's task note, the "what"
//! column of the board that parallel agents work from.

use anyhow::Result;

use crate::cli::Task;
use crate::context::Ctx;
use crate::slot;

pub fn run(args: &Task) -> Result<()> {
    let ctx = Ctx::load_existing()?;
    let common = &ctx.repo.common_dir;
    let mut slot = ctx.slot_or_here(args.slot.as_deref(), "task")?;
    if args.set.is_none() && args.set_file.is_none() {
        if args.json {
            return print_json(&slot);
        }
        match &slot.task {
            Some(task) => crate::output::print(&format!("{task}\n"))?,
            None => eprintln!(
                "git-agent: slot {} has no task; set one with `git agent task {} --set TEXT`",
                slot.name, slot.name
            ),
        }
        return Ok(());
    }
    let task = crate::provision::read_task(args.set.as_deref(), args.set_file.as_deref())?;
    // Under the slot's lock, re-read: a command changing the slot (an `add` still making it)
    // saves its own copy of the record, which would drop the note or be spoiled by it.
    let _lock = crate::slot_lock::SlotLock::acquire(common, &slot.name, "task")?;
    slot = slot::load(common, &slot.name)?;
    slot.task = task;
    slot::save(common, &slot)?;
    match &slot.task {
        Some(_) => eprintln!("git-agent: task of slot {} set", slot.name),
        None => eprintln!("git-agent: task of slot {} cleared", slot.name),
    }
    if args.json {
        return print_json(&slot);
    }
    Ok(())
}

fn print_json(slot: &slot::Slot) -> Result<()> {
    crate::output::print_json(&serde_json::json!({
        "version": crate::output::JSON_VERSION,
        "name": slot.name,
        "task": slot.task,
    }))
}
