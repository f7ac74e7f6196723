//! `git agent approve [--list | --revoke]`: the user's approval of the repository's setup and
//! merge commands (`[setup] run`, `[merge] test` and `after`). Running it is the approval (as `direnv allow` is), so it asks nothing; it shows
//! exactly which command texts it approves.

use anyhow::{Result, bail};
use serde_json::json;

use crate::cli::Approve;
use crate::context::Ctx;
use crate::setup::approvals;

pub fn run(args: &Approve) -> Result<()> {
    let ctx = Ctx::load()?;
    let common = &ctx.repo.common_dir;
    let config = &ctx.config;
    let template = &config.template;
    // Each command with whether it comes from the repository (only those need approval).
    let listed: Vec<(String, bool)> = template
        .setup
        .iter()
        .flat_map(|s| s.run.iter().map(|c| (c.clone(), config.setup_from_repo)))
        .chain(template.merge.iter().flat_map(|m| {
            m.test
                .iter()
                .chain(&m.after)
                .map(|c| (c.clone(), config.merge_from_repo))
        }))
        .collect();
    let commands: Vec<String> = listed.iter().map(|(c, _)| c.clone()).collect();
    let from_repo = config.repo_commands();
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
            eprintln!(
                "git-agent: this repository's template has no [setup] run or [merge] commands"
            );
        }
    } else if commands.is_empty() {
        bail!("this repository's template has no [setup] run or [merge] commands to approve");
    } else if from_repo.is_empty() {
        eprintln!("git-agent: these commands come from your own config and need no approval");
    } else {
        approved = approvals::load()?.pending(common, &from_repo);
        if approved.is_empty() {
            eprintln!("git-agent: every command of this repository is already approved");
        } else {
            approvals::approve(common, &approved)?;
        }
        for command in &approved {
            eprintln!("git-agent: approved: {command}");
        }
    }
    // Each command's state after what was done: yours (from your own config), approved or pending.
    let store = approvals::load()?;
    let states: Vec<(&str, &String)> = listed
        .iter()
        .map(|(command, repo)| {
            let state = if !repo {
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
