//! `git agent exec [SLOT] -- CMD...`: runs CMD in the slot with the slot's env over the current
//! env, and exits with its status.

use anyhow::{Result, bail};

use crate::cli::Exec;
use crate::context::Ctx;

pub fn run(args: &Exec) -> Result<()> {
    let ctx = Ctx::load_existing()?;
    let slot = ctx.slot_or_here(args.slot.as_deref(), "exec")?;
    if !slot.path.is_dir() {
        bail!(
            "the directory of slot {} is gone ({}); `git agent prune` forgets it",
            slot.name,
            slot.path.display()
        );
    }
    let env = ctx.slot_env(&slot);
    crate::context::run_child(&slot.path, &args.command, &env)
}
