//! The steps once a slot's worktree exists: ignore rules, data services, copied files, the
//! env file, setup commands, then `ready`; each registers its undo. Also the undo of the
//! ignore rules and of the directories `add` made, which rollbacks and removal share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::context::Ctx;
use crate::git::{Repo, repo_lock};
use crate::slot::{self, Slot, State};
use crate::template::Vars;
use crate::txn::Txn;
use crate::{envfile, fsutil, names, services, setup};

/// The steps once the worktree exists, shared with `adopt`: ignore rules, data services,
/// copied files, the env file, setup commands, then `ready`. Returns the slot and, when
/// `--keep-on-failure` kept it, the setup command's failure.
pub fn prepare(
    ctx: &Ctx,
    mut slot: Slot,
    setup: &setup::Plan,
    txn: &mut Txn,
) -> Result<(Slot, Option<anyhow::Error>)> {
    let repo = &ctx.repo;
    let config = &ctx.config;
    let common = repo.common_dir.clone();

    txn.step("exclude")?;
    ensure_ignored(repo, &mut slot, txn)?;

    let vars = slot_vars(ctx, &slot);
    let services_ctx = services::Context {
        vars: &vars,
        slot_path: &slot.path,
        main_worktree: &repo.main_worktree,
    };
    let (resources, service_env) = {
        let mut save = |resources: &services::Resources| {
            let mut record = slot.clone();
            record.resources = resources.clone();
            slot::save(&common, &record)
        };
        let _status = setup::progress::Status::start("provisioning the slot's data services");
        let owner = services::namespaces::Owner {
            repo: &common,
            name: &slot.name,
        };
        services::provision(&config.template, &services_ctx, owner, txn, &mut save)?
    };
    slot.resources = resources;

    // Before the env file, so that a copied `.env.local` keeps its lines and gets the block.
    txn.step("copy")?;
    setup.copy(&repo.main_worktree, &slot.path, slot.adopted, txn)?;

    txn.step("envfile")?;
    let mut vars = vars;
    for (key, value) in &service_env {
        vars.set(key, value.clone());
    }
    let mut env: BTreeMap<String, String> = slot
        .ports
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    env.extend(service_env);
    env.insert("GIT_AGENT_SLOT".into(), slot.name.clone());
    for (key, value) in &config.template.env {
        env.insert(
            key.clone(),
            vars.render(
                value.get_ref(),
                &config.place("env", key, Some(value.span())),
            )?,
        );
    }
    write_env_file(&slot, &env, txn)?;
    slot.env = env;

    let empty = crate::submodules::left_empty(&repo.main_worktree, &slot.path);
    if !empty.is_empty() && !setup.run.iter().any(|c| c.contains("submodule")) {
        eprintln!(
            "git-agent: note: git leaves submodules empty in a new worktree ({}): \
             `git submodule update --init --recursive` in the slot fills them; under [setup] run in \
             .git-agent.toml every new slot gets it",
            empty.join(", ")
        );
    }

    txn.step("setup")?;
    let mut failed = None;
    if !setup.run.is_empty() {
        slot::save(&common, &slot)?;
        if let Err(e) = setup.run(&slot.path, &ctx.slot_env(&slot)) {
            let interrupted = e.downcast_ref::<crate::error::Interrupted>().is_some();
            if interrupted || !setup.keep_on_failure {
                return Err(e);
            }
            failed = Some(e);
        }
    }

    txn.step("ready")?;
    slot.state = State::Ready;
    slot.pid = None;
    slot.step = None;
    slot::save(&common, &slot)?;
    Ok((slot, failed))
}

/// The env file must not be tracked (writing it would dirty the tree and could be committed);
/// if it is not ignored, it and git-agent's own directory go into `info/exclude`.
fn ensure_ignored(repo: &Repo, slot: &mut Slot, txn: &mut Txn) -> Result<()> {
    let (tracked, unignored) = ignore_state(slot)?;
    if tracked {
        bail!(
            "{} is tracked by git in this repository, so git-agent will not write its variables into it; \
             set env_file under [worktree] in .git-agent.toml to an untracked file (e.g. .env.agent), \
             or untrack it with `git rm --cached {}`",
            slot.env_file,
            slot.env_file
        );
    }
    let wanted = unignored;
    if wanted.is_empty() {
        return Ok(());
    }
    let _lock = repo_lock(&repo.common_dir)?;
    let exclude = repo.common_dir.join("info").join("exclude");
    let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|p| !text.lines().any(|l| l.trim() == p.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for pattern in &missing {
        text.push_str(pattern);
        text.push('\n');
    }
    let added: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
    slot.excluded = added.clone();
    slot::save(&repo.common_dir, slot)?;
    fsutil::write_atomic_mode(&exclude, text.as_bytes(), 0o644)?;
    let (common, name) = (repo.common_dir.clone(), slot.name.clone());
    txn.on_undo(
        format!("removed {} from {}", added.join(" "), exclude.display()),
        move || take_back_excludes(&common, &added, &name),
    );
    Ok(())
}

/// Whether the env file is tracked in the new worktree, and the `info/exclude` patterns for
/// those of the env file and `.git-agent/` that no ignore rule covers yet. Read with gix, as
/// `git ls-files --error-unmatch` and `git check-ignore --no-index` would answer: three `git`
/// processes fewer on every `add`.
fn ignore_state(slot: &Slot) -> Result<(bool, Vec<String>)> {
    use gix::index::entry::Mode;
    use gix::worktree::stack::state::ignore::Source;
    let opened = gix::open(&slot.path);
    let repo = opened.with_context(|| format!("could not open {}", slot.path.display()))?;
    let index = repo
        .index_or_empty()
        .context("could not read the new worktree's index")?;
    let env_file = slot.env_file.trim_start_matches('/');
    let tracked = index.entry_by_path(env_file.into()).is_some();
    let mut excludes = repo
        .excludes(&index, None, Source::WorktreeThenIdMappingIfNotSkipped)
        .context("could not read the ignore rules")?;
    let mut unignored = Vec::new();
    let probes = [
        (env_file, Mode::FILE, format!("/{env_file}")),
        (".git-agent", Mode::DIR, "/.git-agent/".to_string()),
    ];
    for (path, mode, pattern) in probes {
        let platform = excludes
            .at_path(Path::new(path), Some(mode))
            .context("could not check the ignore rules")?;
        if !platform.is_excluded() {
            unignored.push(pattern);
        }
    }
    Ok((tracked, unignored))
}

/// Removes lines an `add` appended to `info/exclude`, unless another slot of the repository
/// (made meanwhile by a concurrent `add`) relies on them.
pub fn take_back_excludes(common: &Path, added: &[String], name: &str) -> Result<()> {
    let _lock = repo_lock(common)?;
    if slot::load_all(common)?.iter().any(|s| s.name != name) {
        return Ok(());
    }
    let exclude = common.join("info").join("exclude");
    let now = match std::fs::read_to_string(&exclude) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", exclude.display())),
    };
    let kept: String = now
        .split_inclusive('\n')
        .filter(|l| !added.iter().any(|a| l.trim_end() == a))
        .collect();
    if kept.is_empty() {
        // Nothing else was in it: an empty exclude file and none are the same to git.
        std::fs::remove_file(&exclude).or_else(ignore_missing)
    } else if kept != now {
        fsutil::write_atomic_mode(&exclude, kept.as_bytes(), 0o644)
    } else {
        Ok(())
    }
}

/// Removes the directories an `add` created (deepest first), as long as they are empty.
/// Returns those it removed. Under the repository's lock, which `add` holds from creating
/// them to `git worktree add`: another slot's `add` may be about to use them.
pub fn remove_empty_dirs(common: &Path, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(_lock) = repo_lock(common) else {
        return removed;
    };
    for dir in dirs {
        match std::fs::remove_dir(dir) {
            Ok(()) => removed.push(dir.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => break,
        }
    }
    removed
}

fn ignore_missing(e: std::io::Error) -> Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e.into())
    }
}

fn slot_vars(ctx: &Ctx, slot: &Slot) -> Vars {
    let mut vars = Vars::default();
    let unique = format!("{}\0{}", ctx.repo.common_dir.display(), slot.name);
    vars.set("repo", ctx.repo.name.clone());
    vars.set("slot", slot.name.clone());
    vars.set("branch", slot.branch.clone());
    vars.set("k", slot.k.to_string());
    vars.set("path", slot.path.to_string_lossy());
    vars.set("main", ctx.repo.main_worktree.to_string_lossy());
    vars.set("id", names::short_hash(&unique));
    vars.set(
        "db",
        names::identifier(&[&ctx.repo.name, &slot.name], &unique, 63),
    );
    for (name, port) in &slot.ports {
        vars.set(name, port.to_string());
    }
    vars
}

/// Writes the managed block, keeping the user's lines; the undo puts back what was there.
fn write_env_file(slot: &Slot, env: &BTreeMap<String, String>, txn: &mut Txn) -> Result<()> {
    let path = slot.path.join(&slot.env_file);
    let before = match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let text = String::from_utf8(before.clone().unwrap_or_default()).with_context(|| {
        format!(
            "{} is not UTF-8 text; git-agent will not rewrite it",
            path.display()
        )
    })?;
    let mode = std::fs::metadata(&path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap_or(0o600);
    envfile::warn_misread(&slot.env_file, env);
    let content = envfile::with_block(&text, env);
    match &before {
        Some(_) => fsutil::write_atomic_mode(&path, content.as_bytes(), mode)?,
        // A new file holds nothing of the user's yet: no fsync (see fsutil::write_atomic).
        None => fsutil::write_atomic(&path, content.as_bytes())?,
    }
    txn.on_undo(
        format!("restored {}", path.display()),
        move || match &before {
            Some(bytes) => fsutil::write_atomic_mode(&path, bytes, mode),
            None => std::fs::remove_file(&path).or_else(ignore_missing),
        },
    );
    Ok(())
}
