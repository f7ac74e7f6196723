//! `git agent path [SLOT]`: the slot's directory, for `cd "$(git agent path x)"`.

use anyhow::Result;

use super::Ctx;
use crate::cli::SlotArg;
use crate::output;

pub fn run(args: &SlotArg) -> Result<()> {
    let ctx = Ctx::load_existing()?;
    let slot = ctx.slot_or_here(args.slot.as_deref(), "path")?;
    output::print(&format!("{}\n", slot.path.display()))
}
