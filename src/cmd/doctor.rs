//! `git agent doctor [--json]`: prints doctor's findings (the checks are in `crate::doctor`).
//! Exit status 1 when any finding is an error.

use anyhow::Result;
use serde_json::json;

use crate::cli::Doctor;
use crate::doctor::{self, Level};
use crate::output;

pub fn run(args: &Doctor) -> Result<()> {
    let report = doctor::diagnose()?;
    let errors = report.count(Level::Error);
    let warnings = report.count(Level::Warning);
    if args.json {
        output::print_json(&json!({
            "version": output::JSON_VERSION,
            "ok": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "findings": report.findings,
        }))?;
    } else {
        output::print(&doctor::text(&report))?;
    }
    match (errors, warnings) {
        (0, 0) => eprintln!("git-agent: no problems found"),
        (e, w) => eprintln!("git-agent: {e} error(s), {w} warning(s)"),
    }
    if errors > 0 {
        return Err(crate::error::SilentExit(1).into());
    }
    Ok(())
}
