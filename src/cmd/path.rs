//! `git agent path [SLOT]`: the slot's directory, for `cd "$(git agent path x)"`.

use anyhow::Result;

use crate::cli::PathArgs;
use crate::context::Ctx;
use crate::output;

pub fn run(args: &PathArgs) -> Result<()> {
    let ctx = Ctx::load_existing()?;
    let slot = ctx.slot_or_here(args.slot.as_deref(), "path")?;
    if args.json {
        return output::print_json(&serde_json::json!({
            "version": output::JSON_VERSION,
            "name": slot.name,
            "path": slot.path,
        }));
    }
    output::print(&format!("{}\n", slot.path.display()))
}
