//! `git agent claude install | worktree-create | worktree-remove`: Claude Code's worktree
//! hooks, so that `claude --worktree NAME` makes a git-agent slot (ports, database, env) and
//! removing it keeps `rm`'s safety. The handlers print nothing on stdout but the path.

use std::io::IsTerminal;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::claude::{self, Create, Remove};
use crate::cli::{Claude, ClaudeAction, ClaudeInstall};
use crate::context::Ctx;
use crate::fsutil::same_path;
use crate::git::{Head, Repo};
use crate::{output, slot};

pub fn run(args: &Claude) -> Result<()> {
    match &args.action {
        ClaudeAction::Install(install) => self::install(install),
        ClaudeAction::WorktreeCreate => create(),
        ClaudeAction::WorktreeRemove => remove(),
    }
}

fn install(args: &ClaudeInstall) -> Result<()> {
    let repo = Repo::discover(&crate::context::current_dir()?)?;
    if !repo.has_main_worktree() {
        bail!(
            "the bare repository {} has no worktree of its default branch, where Claude Code reads .claude/",
            repo.common_dir.display()
        );
    }
    let file = claude::settings_file(&repo.main_worktree);
    let before = claude::read_settings(&file)?;
    let bin = std::env::current_exe().context("could not find the path of the git-agent binary")?;
    let (after, others) = claude::merge(before.clone(), &bin)
        .with_context(|| format!("could not merge the hooks into {}", file.display()))?;
    for other in &others {
        eprintln!(
            "git-agent: warning: {} has another WorktreeCreate hook (`{other}`); Claude Code runs each, \
             and only one may make the worktree: remove it",
            file.display()
        );
    }
    let text = format!("{}\n", serde_json::to_string_pretty(&after)?);
    if args.print {
        return output::print(&text);
    }
    let changed = before != after;
    if changed {
        crate::fsutil::write_atomic_mode(&file, text.as_bytes(), 0o644)?;
        eprintln!(
            "git-agent: wrote Claude Code's WorktreeCreate and WorktreeRemove hooks into {}; \
             `claude --worktree NAME` now makes slot NAME",
            file.display()
        );
    } else {
        eprintln!("git-agent: {} already has the hooks", file.display());
    }
    if args.json {
        return output::print_json(&serde_json::json!({
            "version": output::JSON_VERSION,
            "file": file,
            "changed": changed,
        }));
    }
    Ok(())
}

/// The payload on stdin; never from a terminal, where nothing would send one.
fn payload() -> Result<serde_json::Map<String, serde_json::Value>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "this is Claude Code's worktree hook; it reads a JSON payload on stdin (`git agent claude install` sets it up)"
        );
    }
    claude::read_payload(&mut stdin.lock())
}

/// Runs a git-agent command line in this process, as if typed (with its own parsing).
fn run_command(args: &[&str]) -> Result<()> {
    let cli =
        crate::cli::Cli::try_parse_from(std::iter::once("git-agent").chain(args.iter().copied()))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    super::run(cli.command)
}

fn create() -> Result<()> {
    let request = Create::from_payload(&payload()?)?;
    if let Some(cwd) = &request.cwd {
        std::env::set_current_dir(cwd)
            .with_context(|| format!("could not go to the payload's cwd {}", cwd.display()))?;
    }
    let ctx = Ctx::load()?;
    let name = crate::names::slot_name(&request.name);
    // A slot of that name already (a session resumed): Claude Code gets its path.
    if slot::exists(&ctx.repo.common_dir, &name) {
        let found = slot::load(&ctx.repo.common_dir, &name)?;
        if found.state == slot::State::Ready && found.path.is_dir() {
            eprintln!("git-agent: slot {name} exists; Claude Code works in it");
            return output::print(&format!("{}\n", found.path.display()));
        }
    }
    // Claude Code's own branch name for the worktree, so its users find what they know.
    let branch = format!("worktree-{name}");
    let mut args = vec!["add", branch.as_str(), "--name", name.as_str(), "--no-cd"];
    // Claude Code starts the worktree at `base_commit`: where the branch checked out here
    // is, the slot is based on that branch; elsewhere on the commit itself.
    let on_branch = match ctx.repo.head_here() {
        Head::Branch(b) => request
            .base_commit
            .as_deref()
            .is_none_or(|c| ctx.repo.resolve(&b) == ctx.repo.resolve(c)),
        _ => false,
    };
    if let Some(commit) = &request.base_commit
        && !on_branch
        && !ctx.repo.local_branch_exists(&branch)
    {
        args.extend(["--from", commit.as_str()]);
    }
    run_command(&args)
}

fn remove() -> Result<()> {
    let request = Remove::from_payload(&payload()?)?;
    let path = &request.worktree_path;
    let start = [Some(path.clone()), request.cwd.clone()]
        .into_iter()
        .flatten()
        .find(|d| d.is_dir())
        .with_context(|| {
            format!(
                "{} does not exist, nor does the payload's cwd",
                path.display()
            )
        })?;
    let repo = Repo::discover(&start)?;
    // Never run from inside the directory about to go.
    std::env::set_current_dir(&repo.main_worktree)
        .with_context(|| format!("could not go to {}", repo.main_worktree.display()))?;
    let Some(found) = slot::load_all(&repo.common_dir)?
        .into_iter()
        .find(|s| same_path(&s.path, path))
    else {
        bail!(
            "{} is not a git-agent slot, so it is left as it is (`git worktree remove {}` removes it)",
            path.display(),
            path.display()
        );
    };
    run_command(&["rm", found.name.as_str()])
}
