//! `git agent add`: worktree, branch, port lease, data services and env file, as one
//! transaction that undoes itself on any error or Ctrl-C.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::Ctx;
use crate::cli::Add;
use crate::git::{self, Repo};
use crate::registry::{self, Entry};
use crate::slot::{self, Slot, State};
use crate::template::Vars;
use crate::txn::{self, Txn};
use crate::{envfile, fsutil, names, output, ports, services};

/// How the slot gets its branch.
enum BranchPlan {
    /// Create `branch` from this revision.
    New { from: String },
    /// Check out the existing local branch.
    Existing,
    /// Create a local branch tracking this remote-tracking branch (`origin/x`).
    Track { remote: String },
}

pub fn run(args: &Add) -> Result<()> {
    txn::install_handler();
    let ctx = Ctx::load()?;
    let plan = plan_branch(&ctx, args)?;
    let created = Txn::new().run(|txn| create(&ctx, args, &plan, txn))?;
    report(&created, args.json)?;
    if !args.command.is_empty() {
        let env = ctx.slot_env(&created);
        return super::run_child(&created.path, &args.command, &env);
    }
    // With shell integration, the user's shell moves into the slot at its next prompt.
    if !args.no_cd
        && let Err(e) = crate::shell::send_cd(&created.path)
    {
        eprintln!("git-agent: warning: could not move the shell into the slot: {e:#}");
    }
    Ok(())
}

/// The branch to check out and how; fails before anything is changed.
fn plan_branch(ctx: &Ctx, args: &Add) -> Result<(String, BranchPlan, String)> {
    let repo = &ctx.repo;
    let wanted = args.branch.as_str();
    check_branch_name(repo, wanted)?;
    let default_base = ctx
        .config
        .template
        .worktree
        .base
        .clone()
        .or_else(|| repo.current_branch())
        .unwrap_or_else(|| "HEAD".into());
    if repo.local_branch_exists(wanted) {
        if let Some(from) = &args.from {
            bail!(
                "branch '{wanted}' already exists, so --from {from} does not apply; drop --from to use the branch as it is"
            );
        }
        if let Some(wt) = repo
            .worktrees()?
            .into_iter()
            .find(|w| w.branch.as_deref() == Some(wanted))
        {
            bail!(
                "branch '{wanted}' is already checked out at {}; use that worktree, or pick another branch",
                wt.path.display()
            );
        }
        return Ok((wanted.to_string(), BranchPlan::Existing, default_base));
    }
    if args.from.is_none()
        && let Some(remote) = repo.remote_branch(wanted)
    {
        let local = remote
            .split_once('/')
            .map(|(_, b)| b)
            .unwrap_or(&remote)
            .to_string();
        if repo.local_branch_exists(&local) {
            bail!("a local branch '{local}' already exists; run `git agent add {local}` to use it");
        }
        return Ok((local, BranchPlan::Track { remote }, default_base));
    }
    let from = args.from.clone().unwrap_or_else(|| default_base.clone());
    if repo.resolve(&from).is_none() {
        let source = if args.from.is_some() {
            "--from"
        } else {
            "the base ([worktree] base or HEAD)"
        };
        bail!("{source} '{from}' is not a branch, tag or commit in this repository");
    }
    let base = if from == "HEAD" {
        default_base
    } else {
        from.clone()
    };
    Ok((wanted.to_string(), BranchPlan::New { from }, base))
}

fn check_branch_name(repo: &Repo, branch: &str) -> Result<()> {
    if branch.starts_with('-') {
        bail!("'{branch}' is not a valid branch name (it starts with '-')");
    }
    let mut cmd = repo.git();
    cmd.args(["check-ref-format", "--branch", branch]);
    let out = git::output(&mut cmd)?;
    if !out.status.success() {
        bail!("'{branch}' is not a valid branch name (see `git help check-ref-format`)");
    }
    Ok(())
}

fn create(
    ctx: &Ctx,
    args: &Add,
    plan: &(String, BranchPlan, String),
    txn: &mut Txn,
) -> Result<Slot> {
    let (branch, how, base) = plan;
    let repo = &ctx.repo;
    let config = &ctx.config;
    let common = repo.common_dir.clone();

    txn.step("validate")?;
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
    let file = config.template_file.as_ref().map(|f| f.display().to_string());
    let file = file.as_deref().unwrap_or("the template");
    services::check(&config.template).map_err(|e| anyhow::anyhow!("{file}: {e:#}"))?;
    fsutil::check_inside_slot(config.env_file())
        .map_err(|e| anyhow::anyhow!("{file}: worktree.env_file: {e:#}"))?;

    // Name, path and ports are chosen under the machine-wide lock, and recorded before it is
    // released, so concurrent `add`s never pick the same ones.
    txn.step("lease")?;
    let mut slot = {
        let mut locked = registry::Locked::acquire()?;
        let name = choose_name(&common, args, branch, &locked.registry)?;
        let path = slot_path(ctx, args, &name, branch)?;
        if locked.registry.find_root(&path).is_some() {
            bail!("{} is already a slot's directory", path.display());
        }
        let leased: BTreeSet<u16> = locked.registry.leased_ports().collect();
        let (k, ports) = ports::choose(&config.ports(), &leased)?;
        let slot = Slot {
            version: slot::VERSION,
            name: name.clone(),
            branch: branch.clone(),
            path: path.clone(),
            state: State::Creating,
            base: base.clone(),
            created_branch: !matches!(how, BranchPlan::Existing),
            adopted: false,
            k,
            ports: ports.clone(),
            env_file: config.env_file().to_string(),
            env: BTreeMap::new(),
            resources: Default::default(),
            task: None,
            created: slot::now(),
            pid: Some(std::process::id()),
            made_dirs: Vec::new(),
            excluded: Vec::new(),
        };
        slot::save(&common, &slot)?;
        locked.registry.slots.push(Entry {
            root: path,
            repo: common.clone(),
            name: name.clone(),
            env_file: slot.env_file.clone(),
            k,
            ports,
        });
        if let Err(e) = locked.save() {
            let _ = slot::remove_record(&common, &name);
            return Err(e);
        }
        slot
    };
    {
        let (common, name) = (common.clone(), slot.name.clone());
        txn.on_undo(
            format!("released the ports and the record of slot {name}"),
            move || release_lease(&common, &name),
        );
    }

    txn.step("worktree")?;
    add_worktree(repo, &mut slot, how, txn)?;

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
        services::provision(&config.template, &services_ctx, txn, &mut save)?
    };
    slot.resources = resources;

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

    txn.step("ready")?;
    slot.state = State::Ready;
    slot.pid = None;
    slot::save(&common, &slot)?;
    Ok(slot)
}

/// The slot name: `--name`, or the branch made safe; another slot (of any branch) already
/// holding that name gets a numbered neighbour, never overwritten.
fn choose_name(
    common: &Path,
    args: &Add,
    branch: &str,
    registry: &registry::Registry,
) -> Result<String> {
    let taken = |name: &str| {
        slot::exists(common, name)
            || registry
                .slots
                .iter()
                .any(|s| s.repo == common && s.name == name)
    };
    if let Some(name) = &args.name {
        names::check_slot_name(name)?;
        if taken(name) {
            bail!(
                "a slot named '{name}' already exists; pick another --name or remove it with `git agent rm {name}`"
            );
        }
        return Ok(name.clone());
    }
    let base = names::slot_name(branch);
    if !taken(&base) {
        return Ok(base);
    }
    (2..1000)
        .map(|n| format!("{base}-{n}"))
        .find(|n| !taken(n))
        .context("too many slots with the same name")
}

fn slot_path(ctx: &Ctx, args: &Add, name: &str, branch: &str) -> Result<PathBuf> {
    let raw = match &args.path {
        Some(path) => path.clone(),
        None => {
            let mut vars = Vars::default();
            vars.set("repo", ctx.repo.name.clone());
            vars.set("slot", name);
            vars.set("branch", branch);
            let text = vars.render(
                ctx.config.path_template(),
                &ctx.config.place("worktree", "path", None),
            )?;
            let text = match text.strip_prefix("~/") {
                Some(rest) => format!("{}/{rest}", std::env::var("HOME").unwrap_or_default()),
                None => text,
            };
            ctx.repo.main_worktree.join(text)
        }
    };
    let path = if raw.is_absolute() {
        raw
    } else {
        ctx.cwd.join(raw)
    };
    let path = normalize(&path);
    if path.exists()
        && std::fs::read_dir(&path)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; choose another --path or --name",
            path.display()
        );
    }
    Ok(path)
}

/// Resolves `.` and `..` lexically (the directory does not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn add_worktree(repo: &Repo, slot: &mut Slot, how: &BranchPlan, txn: &mut Txn) -> Result<()> {
    let path = slot.path.to_string_lossy().into_owned();
    let mut cmd = repo.git();
    cmd.args(["worktree", "add", "--quiet"]);
    match how {
        BranchPlan::New { from } => {
            cmd.args(["--no-track", "-b", &slot.branch, &path, from]);
        }
        BranchPlan::Existing => {
            cmd.args([&path, &slot.branch]);
        }
        BranchPlan::Track { remote } => {
            cmd.args(["--track", "-b", &slot.branch, &path, remote]);
        }
    }
    let parent = slot.path.parent().context("the slot path has no parent")?;
    // Recorded before they are made, so that `prune` can take them back after a SIGKILL.
    let made: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    if !made.is_empty() {
        slot.made_dirs = made.clone();
        slot::save(&repo.common_dir, slot)?;
        txn.on_undo(
            format!(
                "removed the empty directory {}",
                made[made.len() - 1].display()
            ),
            move || {
                remove_empty_dirs(&made);
                Ok(())
            },
        );
    }
    std::fs::create_dir_all(parent)
        .with_context(|| format!("could not create {}", parent.display()))?;
    // Registered before the worktree's undo so that it runs after it: git refuses to delete a
    // branch that a worktree still has checked out. `git worktree add -b` may also leave the
    // branch behind when the checkout itself fails.
    if slot.created_branch && !repo.local_branch_exists(&slot.branch) {
        let (main, branch) = (repo.main_worktree.clone(), slot.branch.clone());
        txn.on_undo(format!("deleted the branch {branch}"), move || {
            let mut probe = git::git_in(&main);
            probe.args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ]);
            if !git::output(&mut probe)?.status.success() {
                return Ok(());
            }
            let mut cmd = git::git_in(&main);
            cmd.args(["branch", "-D", "--", &branch]);
            git::run(cmd).map(|_| ())
        });
    }
    {
        let _lock = repo_lock(&repo.common_dir)?;
        git::run(cmd)?;
    }
    let (main, wt_path) = (repo.main_worktree.clone(), slot.path.clone());
    txn.on_undo(
        format!("removed the worktree {}", slot.path.display()),
        move || {
            let mut cmd = git::git_in(&main);
            cmd.args(["worktree", "remove", "--force", "--force"])
                .arg(&wt_path);
            git::run(cmd).map(|_| ())
        },
    );
    Ok(())
}

/// Serialises the git commands that change a repository's worktrees and config, which take
/// git's own lock files and fail rather than wait when another process holds them.
pub fn repo_lock(common: &Path) -> Result<std::fs::File> {
    let dir = common.join("agent");
    fsutil::create_private_dir(&dir)?;
    fsutil::lock(&dir.join("lock"))
}

/// The env file must not be tracked (writing it would dirty the tree and could be committed);
/// if it is not ignored, it and git-agent's own directory go into `info/exclude`.
fn ensure_ignored(repo: &Repo, slot: &mut Slot, txn: &mut Txn) -> Result<()> {
    let mut cmd = git::git_in(&slot.path);
    cmd.args(["ls-files", "--error-unmatch", "--", &slot.env_file]);
    if git::output(&mut cmd)?.status.success() {
        bail!(
            "{} is tracked by git in this repository, so git-agent will not write its variables into it; \
             set env_file under [worktree] in .git-agent.toml to an untracked file (e.g. .env.agent), \
             or untrack it with `git rm --cached {}`",
            slot.env_file,
            slot.env_file
        );
    }
    let mut wanted = Vec::new();
    for pattern in [format!("/{}", slot.env_file), "/.git-agent/".to_string()] {
        let probe = pattern.trim_start_matches('/').to_string();
        let mut cmd = git::git_in(&slot.path);
        cmd.args(["check-ignore", "-q", "--no-index", "--", &probe]);
        if !git::output(&mut cmd)?.status.success() {
            wanted.push(pattern);
        }
    }
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
pub fn remove_empty_dirs(dirs: &[PathBuf]) {
    for dir in dirs {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
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
    fsutil::write_atomic_mode(&path, envfile::with_block(&text, env).as_bytes(), mode)?;
    txn.on_undo(
        format!("restored {}", path.display()),
        move || match &before {
            Some(bytes) => fsutil::write_atomic_mode(&path, bytes, mode),
            None => std::fs::remove_file(&path).or_else(ignore_missing),
        },
    );
    Ok(())
}

/// Removes the slot's lease from the registry and its record.
/// The record goes first: a lease without a record is an orphan that `prune` drops, and the
/// registry's list of known repositories only keeps those that still hold records.
pub fn release_lease(common: &Path, name: &str) -> Result<()> {
    slot::remove_record(common, name)?;
    let mut locked = registry::Locked::acquire()?;
    if locked.registry.remove(common, name).is_some() {
        locked.save()?;
    }
    Ok(())
}

fn report(slot: &Slot, json: bool) -> Result<()> {
    let mut by_port: Vec<(&String, &u16)> = slot.ports.iter().collect();
    by_port.sort_by_key(|(_, port)| **port);
    let ports: Vec<String> = by_port.iter().map(|(k, v)| format!("{k}={v}")).collect();
    eprintln!(
        "git-agent: slot {} ready on branch {} ({})",
        slot.name,
        slot.branch,
        ports.join(" ")
    );
    if json {
        output::print_json(&slot_json(slot))
    } else {
        output::print(&format!("{}\n", slot.path.display()))
    }
}

/// The JSON object describing a slot, shared by `add --json` and `env --json`.
pub fn slot_json(slot: &Slot) -> serde_json::Value {
    json!({
        "version": 1,
        "name": slot.name,
        "branch": slot.branch,
        "path": slot.path,
        "state": slot.state.as_str(),
        "base": slot.base,
        "ports": slot.ports,
        "env": slot.env,
        "database": slot.resources.database.as_ref().map(services::describe_database),
        "task": slot.task,
    })
}
