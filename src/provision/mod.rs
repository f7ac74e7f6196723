//! Making a slot, shared by `add` and `adopt`: the flags they share (task, setup plan), the
//! template's checks, and what they print. The steps themselves are in `lease` (name, path,
//! ports and the record) and `prepare` (ignore rules, data services, copied files, the env
//! file and setup commands), each registering its undo.

mod add;
mod branch;
mod lease;
mod prepare;

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::context::Ctx;
use crate::slot::Slot;
use crate::template::Vars;
use crate::{fsutil, output, services, setup};

pub use add::{create, existing};
pub use branch::{Base, BranchPlan, default_base, plan_branch};
pub use lease::{NewSlot, lease, release_lease, slot_path};
pub use prepare::{prepare, remove_empty_dirs, take_back_excludes};

/// The task note and the setup plan from the flags `add` and `adopt` share. Approval of
/// setup commands is asked here, before any transaction starts: a question answered with
/// Ctrl-C leaves nothing to undo.
pub fn task_and_setup(
    ctx: &Ctx,
    prep: &crate::cli::Preparation,
) -> Result<(Option<String>, setup::Plan)> {
    let task = read_task(prep.task.as_deref(), prep.task_file.as_deref())?;
    let options = setup::Options {
        skip: prep.no_setup,
        yes: prep.yes,
        keep_on_failure: prep.keep_on_failure,
    };
    let setup = setup::Plan::new(&ctx.config, &ctx.repo.common_dir, options)?;
    Ok((task, setup))
}

/// A task note from `--task` or `--task-file`; an empty one is none.
pub fn read_task(text: Option<&str>, file: Option<&Path>) -> Result<Option<String>> {
    let text = match (text, file) {
        (Some(text), _) => text.to_string(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("could not read the task file {}", file.display()))?,
        (None, None) => return Ok(None),
    };
    let text = text.trim_end().to_string();
    Ok((!text.trim().is_empty()).then_some(text))
}

/// The error `add` ends with when a setup command failed and `--keep-on-failure` kept the slot.
pub fn kept_after_failure(slot: &Slot, error: anyhow::Error) -> anyhow::Error {
    eprintln!("git-agent: error: {error:#}");
    eprintln!(
        "git-agent: slot {} is kept as it is (--keep-on-failure): fix it in {}, or remove it with `git agent rm {}`",
        slot.name,
        slot.path.display(),
        slot.name
    );
    crate::error::reported(&error)
}

/// Checks the template before anything is created: every placeholder in `[env]` is known,
/// and nothing sends git-agent's writes outside the slot.
pub fn check_template(config: &crate::config::Config) -> Result<()> {
    let mut names_known: Vec<String> = ["repo", "slot", "branch", "k", "path", "main", "id", "db"]
        .map(String::from)
        .to_vec();
    names_known.extend(config.ports().into_keys());
    names_known.extend(services::var_names(&config.template));
    for (key, value) in &config.template.env {
        Vars::check(
            value.get_ref(),
            &config.place("env", key, Some(value.span())),
            &names_known,
        )?;
    }
    // A template must not send git-agent's writes outside the slot nor name variables that
    // take over programs; said before anything is made, naming the file.
    let file = config
        .template_file
        .as_ref()
        .map(|f| f.display().to_string());
    let file = file.as_deref().unwrap_or("the template");
    services::check(&config.template).map_err(|e| anyhow::anyhow!("{file}: {e:#}"))?;
    fsutil::check_inside_slot(config.env_file())
        .map_err(|e| anyhow::anyhow!("{file}: worktree.env_file: {e:#}"))?;
    Ok(())
}

/// What `add` and `adopt` print for the slot: a line on stderr (for a slot just `created`),
/// and its path or its JSON (with `created`) on stdout.
pub fn report(slot: &Slot, json: bool, created: bool) -> Result<()> {
    if created {
        let mut by_port: Vec<(&String, &u16)> = slot.ports.iter().collect();
        by_port.sort_by_key(|(_, port)| **port);
        let ports: Vec<String> = by_port.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!(
            "git-agent: slot {} ready on branch {}, base {} ({})",
            slot.name,
            slot.branch,
            slot.base_text(),
            ports.join(" ")
        );
    }
    if json {
        let mut value = slot_json(slot);
        value["created"] = created.into();
        output::print_json(&value)
    } else {
        output::print(&format!("{}\n", slot.path.display()))
    }
}

/// The JSON object describing a slot, shared by `add --json` and `env --json`.
pub fn slot_json(slot: &Slot) -> serde_json::Value {
    json!({
        "version": output::JSON_VERSION,
        "kind": "slot",
        "name": slot.name,
        "branch": slot.branch,
        "path": slot.path,
        "state": slot.state.as_str(),
        "base": slot.base,
        "base_from": slot.base_from,
        "ports": slot.ports,
        "env": slot.env,
        "database": slot.resources.database.as_ref().map(services::describe_database),
        "redis_prefix": slot.resources.redis.as_ref().map(|r| r.prefix.clone()).or_else(|| slot.env.get("REDIS_PREFIX").cloned()),
        "task": slot.task,
    })
}
