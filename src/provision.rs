//! The steps that make a slot once its branch is known, shared by `add` and `adopt`: the
//! lease (name, path, ports), ignore rules, data services, copied files, the env file and
//! setup commands — each registering its undo — plus what removal and reporting share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::context::Ctx;
use crate::git::{Repo, repo_lock};
use crate::registry::{self, Entry};
use crate::slot::{self, Slot, State};
use crate::slot_lock::SlotLock;
use crate::template::Vars;
use crate::txn::Txn;
use crate::{envfile, fsutil, names, output, ports, services, setup};

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

/// What a new slot is made of before it has a name, a path and ports.
pub struct NewSlot<'a> {
    pub name: Option<&'a str>,
    pub branch: &'a str,
    pub base: &'a str,
    pub base_from: Option<&'a str>,
    pub created_branch: bool,
    pub adopted: bool,
    pub task: Option<String>,
}

/// Chooses the slot's name, its path (from the name) and its ports, and records them; the
/// undo releases them.
pub fn lease(
    ctx: &Ctx,
    new: NewSlot,
    path_for: impl FnOnce(&str) -> Result<PathBuf>,
    txn: &mut Txn,
) -> Result<Slot> {
    let config = &ctx.config;
    let common = ctx.repo.common_dir.clone();
    // Name, path and ports are chosen under the machine-wide lock, and recorded before it is
    // released, so concurrent `add`s never pick the same ones. The slot's own lock is taken
    // with its name and held until the slot is ready or rolled back.
    let (slot, lock) = {
        let mut locked = registry::Locked::acquire()?;
        branch_is_free(&common, new.branch)?;
        let (name, lock) = choose_name(&common, new.name, new.branch, &locked.registry)?;
        let path = path_for(&name)?;
        if locked.registry.find_root(&path).is_some() {
            bail!("{} is already a slot's directory", path.display());
        }
        let leased: BTreeSet<u16> = locked.registry.leased_ports().collect();
        let (k, ports) = ports::choose(&config.ports(), &leased)?;
        let slot = Slot {
            version: slot::VERSION,
            name: name.clone(),
            branch: new.branch.to_string(),
            path: path.clone(),
            state: State::Creating,
            base: new.base.to_string(),
            base_from: new.base_from.map(str::to_string),
            created_branch: new.created_branch,
            adopted: new.adopted,
            k,
            ports: ports.clone(),
            env_file: config.env_file().to_string(),
            env: BTreeMap::new(),
            resources: Default::default(),
            task: new.task,
            created: slot::now(),
            pid: Some(std::process::id()),
            step: Some("lease".into()),
            start: None,
            worktree_id: None,
            copied: Vec::new(),
            broken: None,
            made_dirs: Vec::new(),
            excluded: Vec::new(),
            merging: None,
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
        (slot, lock)
    };
    // Registered first, so it runs last, and only if everything else was undone: otherwise
    // the record stays (marked broken, with its lease) so that what is left stays listed.
    {
        let (common, name) = (common.clone(), slot.name.clone());
        let (common2, name2) = (common.clone(), slot.name.clone());
        txn.on_undo_last(
            format!("released the ports and the record of slot {name}"),
            move || release_lease(&common, &name),
            move |failed| keep_broken(&common2, &name2, failed),
        );
    }
    txn.hold(lock);
    Ok(slot)
}

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

/// The slot name: `--name`, or the branch made safe; another slot (of any branch) already
/// holding that name gets a numbered neighbour, never overwritten. The name comes with its
/// slot lock: a name whose lock another command holds (a `rm` finishing) is taken too.
/// One branch, one slot: checked under the machine-wide lock, where records are made, since
/// a concurrent `add` of the same branch may have recorded its slot after this one looked.
/// Two records of one branch would leave the removal of either unable to delete it.
fn branch_is_free(common: &Path, branch: &str) -> Result<()> {
    let Some(other) = slot::load_all(common)?
        .into_iter()
        .find(|s| s.branch == branch)
    else {
        return Ok(());
    };
    let name = &other.name;
    Err(match SlotLock::holder(common, name) {
        Some(who) => crate::error::busy(format!(
            "branch {branch} is already getting slot {name} from {who}, which started meanwhile; run this again when it is done"
        )),
        None if other.state == State::Ready => crate::error::busy(format!(
            "branch {branch} already got slot {name} while this command ran; `git agent add {branch}` goes there"
        )),
        None => anyhow::anyhow!(
            "branch {branch} already belongs to slot {name}, left half {} by a git-agent command that was killed; \
             `git agent prune` finishes that",
            if other.state == State::Creating {
                "created"
            } else {
                "removed"
            }
        ),
    })
}

fn choose_name(
    common: &Path,
    wanted: Option<&str>,
    branch: &str,
    registry: &registry::Registry,
) -> Result<(String, SlotLock)> {
    let taken = |name: &str| {
        slot::exists(common, name)
            || registry
                .slots
                .iter()
                .any(|s| s.repo == common && s.name == name)
    };
    if let Some(name) = wanted {
        names::check_slot_name(name)?;
        if taken(name) {
            bail!(
                "a slot named '{name}' already exists; pick another --name or remove it with `git agent rm {name}`"
            );
        }
        let lock = SlotLock::acquire(common, name, "add")?;
        return Ok((name.to_string(), lock));
    }
    let base = names::slot_name(branch);
    for name in std::iter::once(base.clone()).chain((2..1000).map(|n| format!("{base}-{n}"))) {
        if taken(&name) {
            continue;
        }
        if let Some(lock) = SlotLock::try_acquire(common, &name, "add")? {
            return Ok((name, lock));
        }
    }
    bail!("too many slots with the same name")
}

/// Keeps the record of a slot whose rollback could not undo everything, marked broken with
/// what is left, so that `ls` and `doctor` show it and `prune` tries again.
fn keep_broken(common: &Path, name: &str, failed: &[String]) -> Result<()> {
    let mut record = slot::load(common, name)?;
    record.broken = Some(format!("could not undo: {}", failed.join("; ")));
    slot::save(common, &record)?;
    eprintln!(
        "git-agent: slot {name} is kept, marked broken, with its ports: `git agent prune` finishes undoing it"
    );
    Ok(())
}

pub fn slot_path(ctx: &Ctx, wanted: Option<&Path>, name: &str, branch: &str) -> Result<PathBuf> {
    let raw = match wanted {
        Some(path) => path.to_path_buf(),
        None => {
            let mut vars = Vars::default();
            vars.set("repo", ctx.repo.name.clone());
            vars.set("slot", name);
            vars.set("branch", branch);
            // Relative to the main worktree (a bare repository's directory); by default beside
            // it and outside any superproject (`Repo::slot_place`).
            let (anchor, default) = ctx.repo.slot_place();
            let template = ctx.config.template.worktree.path.as_deref();
            let text = vars.render(
                template.unwrap_or(&default),
                &ctx.config.place("worktree", "path", None),
            )?;
            let text = match text.strip_prefix("~/") {
                Some(rest) => format!("{}/{rest}", std::env::var("HOME").unwrap_or_default()),
                None => text,
            };
            anchor.join(text)
        }
    };
    let path = if raw.is_absolute() {
        raw
    } else {
        ctx.cwd.join(raw)
    };
    let path = fsutil::normalize(&path);
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
