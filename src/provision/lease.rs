//! A new slot's lease: its name, its path and its ports, chosen under the machine-wide lock
//! and recorded before it is released, so concurrent `add`s never pick the same ones; and
//! giving the lease back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::context::Ctx;
use crate::registry::{self, Entry};
use crate::slot::{self, Slot, State};
use crate::slot_lock::SlotLock;
use crate::template::Vars;
use crate::txn::Txn;
use crate::{fsutil, names, ports};

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
        // The name's lock is held and nothing recorded yet: a kill here leaves the lock file.
        crate::txn::checkpoint("named");
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
    let (holder, Some(other)) = crate::slot_lock::as_it_stands(common, other)? else {
        // Rolled back since it was read: the branch is free.
        return Ok(());
    };
    let name = &other.name;
    Err(match holder {
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

/// The slot name: `--name`, or the branch made safe; another slot (of any branch) already
/// holding that name gets a numbered neighbour, never overwritten. The name comes with its
/// slot lock: a name whose lock another command holds (a `rm` finishing) is taken too.
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
