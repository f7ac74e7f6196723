//! `git agent prune`: forgets slots whose directory is gone (releasing their ports and
//! resources), rolls back slots a killed `add` left in `creating`, finishes a `rm` that was
//! cut short, follows worktrees `git worktree move` moved, and drops machine-wide leases whose
//! slot record no longer exists (the work is in `crate::teardown`); with `--repair`, rebuilds
//! a damaged registry (`crate::registry_repair`).

use anyhow::{Result, anyhow};
use serde_json::json;

use crate::cli::Prune;
use crate::git::Repo;
use crate::{teardown, txn};

pub fn run(args: &Prune) -> Result<()> {
    if args.repair {
        let (slots, repositories) = crate::registry_repair::repair(args.dry_run)?;
        if args.json {
            crate::output::print_json(&json!({
                "version": crate::output::JSON_VERSION,
                "dry_run": args.dry_run,
                "forgotten": [],
                "leases_dropped": [],
                "repaired": {"slots": slots, "repositories": repositories},
            }))?;
        }
        return Ok(());
    }
    txn::install_handler();
    let repo = Repo::discover(&crate::context::current_dir()?)?;
    let pruned = teardown::prune(&repo, args.dry_run)?;
    let (forgotten, dropped, failed) = (pruned.forgotten, pruned.leases_dropped, pruned.failed);
    if !pruned.acted && dropped.is_empty() && failed.is_empty() {
        eprintln!("git-agent: nothing to prune");
    }
    if args.json {
        crate::output::print_json(&json!({
            "version": crate::output::JSON_VERSION,
            "dry_run": args.dry_run,
            "forgotten": forgotten,
            "leases_dropped": dropped,
            "repaired": null,
        }))?;
    }
    if !failed.is_empty() {
        return Err(anyhow!(
            "could not finish {} slot(s): {}; each is kept with its ports, marked broken (`git agent ls`, \
             `git agent doctor`); fix what the message says, then run `git agent prune` again",
            failed.len(),
            failed.join(", ")
        ));
    }
    Ok(())
}
