//! `git agent rm`: removes slots without losing work (the checks and steps are in
//! `crate::removal`).

use anyhow::Result;
use serde_json::json;

use crate::cli::Rm;
use crate::context::Ctx;

pub fn run(args: &Rm) -> Result<()> {
    crate::txn::install_handler();
    let ctx = Ctx::load_existing()?;
    let removed = crate::removal::remove_slots(&ctx, args)?;
    if args.json {
        crate::output::print_json(&json!({
            "version": crate::output::JSON_VERSION,
            "removed": removed,
        }))?;
    }
    Ok(())
}
