//! `git agent approve [--list | --revoke]`: the user's approval of the repository's setup
//! commands. Running it is the approval (as `direnv allow` is), so it asks nothing; it shows
//! exactly which command texts it approves.

use anyhow::{Result, bail};

use super::Ctx;
use crate::cli::Approve;
use crate::setup::approvals;

pub fn run(args: &Approve) -> Result<()> {
    let ctx = Ctx::load()?;
    let common = &ctx.repo.common_dir;
    if args.revoke {
        let n = approvals::revoke(common)?;
        eprintln!(
            "git-agent: forgot {n} approved command(s) of {}",
            ctx.repo.main_worktree.display()
        );
        return Ok(());
    }
    let commands = ctx
        .config
        .template
        .setup
        .as_ref()
        .map(|s| s.run.clone())
        .unwrap_or_default();
    let store = approvals::load()?;
    if args.list {
        let mut text = String::new();
        for command in &commands {
            let state = if !ctx.config.setup_from_repo {
                "yours"
            } else if store.is_approved(common, command) {
                "approved"
            } else {
                "pending"
            };
            text.push_str(&format!("{state:<10}{command}\n"));
        }
        if commands.is_empty() {
            eprintln!("git-agent: this repository's template has no [setup] run commands");
        }
        return crate::output::print(&text);
    }
    if commands.is_empty() {
        bail!("this repository's template has no [setup] run commands to approve");
    }
    if !ctx.config.setup_from_repo {
        eprintln!("git-agent: these setup commands come from your own config and need no approval");
        return Ok(());
    }
    let pending = store.pending(common, &commands);
    if pending.is_empty() {
        eprintln!("git-agent: every setup command of this repository is already approved");
        return Ok(());
    }
    approvals::approve(common, &pending)?;
    for command in &pending {
        eprintln!("git-agent: approved: {command}");
    }
    Ok(())
}
