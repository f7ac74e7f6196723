//! `git agent approve [--list | --revoke]`: the user's approval of the repository's setup
//! commands. Running it is the approval (as `direnv allow` is), so it asks nothing; it shows
//! exactly which command texts it approves.

use anyhow::{Result, bail};
use serde_json::json;

use super::Ctx;
use crate::cli::Approve;
use crate::setup::approvals;

pub fn run(args: &Approve) -> Result<()> {
    let ctx = Ctx::load()?;
    let common = &ctx.repo.common_dir;
    let commands = ctx
        .config
        .template
        .setup
        .as_ref()
        .map(|s| s.run.clone())
        .unwrap_or_default();
    let mut approved = Vec::new();
    let mut revoked = 0;
    if args.revoke {
        revoked = approvals::revoke(common)?;
        eprintln!(
            "git-agent: forgot {revoked} approved command(s) of {}",
            ctx.repo.main_worktree.display()
        );
    } else if args.list {
        if commands.is_empty() {
            eprintln!("git-agent: this repository's template has no [setup] run commands");
        }
    } else if commands.is_empty() {
        bail!("this repository's template has no [setup] run commands to approve");
    } else if !ctx.config.setup_from_repo {
        eprintln!("git-agent: these setup commands come from your own config and need no approval");
    } else {
        approved = approvals::load()?.pending(common, &commands);
        if approved.is_empty() {
            eprintln!("git-agent: every setup command of this repository is already approved");
        } else {
            approvals::approve(common, &approved)?;
        }
        for command in &approved {
            eprintln!("git-agent: approved: {command}");
        }
    }
    // Each command's state after what was done: yours (from your own config), approved or pending.
    let store = approvals::load()?;
    let states: Vec<(&str, &String)> = commands
        .iter()
        .map(|command| {
            let state = if !ctx.config.setup_from_repo {
                "yours"
            } else if store.is_approved(common, command) {
                "approved"
            } else {
                "pending"
            };
            (state, command)
        })
        .collect();
    if args.json {
        let list: Vec<serde_json::Value> = states
            .iter()
            .map(|(state, command)| json!({"command": command, "state": state}))
            .collect();
        return crate::output::print_json(&json!({
            "version": crate::output::JSON_VERSION,
            "commands": list,
            "approved": approved,
            "revoked": revoked,
        }));
    }
    if args.list {
        let text: String = states
            .iter()
            .map(|(state, command)| format!("{state:<10}{command}\n"))
            .collect();
        return crate::output::print(&text);
    }
    Ok(())
}
