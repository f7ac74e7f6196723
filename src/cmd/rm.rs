//! `git agent rm`: removes slots without losing work. Every slot named is checked first; if
//! anything would be lost, nothing is removed and the message lists it. Removal itself is
//! idempotent: a second `rm` after a failure finishes the job.

use anyhow::Result;
use serde_json::json;

use crate::cli::Rm;
use crate::context::Ctx;
use crate::fsutil::same_path;
use crate::git::{self, Repo};
use crate::slot::{self, Slot, State};
use crate::slot_lock::SlotLock;
use crate::slot_worktree::{self as worktree, Place};
use crate::{services, txn};

/// What removing a slot would do to its branch.
#[derive(Debug, PartialEq)]
enum BranchFate {
    /// Deleted, and why that loses nothing.
    Delete(String),
    Keep(String),
    Gone,
}

struct Plan {
    slot: Slot,
    /// Held from the checks to the end: no other command changes the slot meanwhile.
    _lock: SlotLock,
    losses: Vec<String>,
    ignored: Vec<String>,
    branch: BranchFate,
}

pub fn run(args: &Rm) -> Result<()> {
    txn::install_handler();
    let ctx = Ctx::load_existing()?;
    // A damaged registry would stop the removal at its last step, after the worktree is gone.
    crate::registry::load()?;
    let common = &ctx.repo.common_dir;
    // With no SLOT, the slot the current directory is in.
    let slots = if args.slots.is_empty() {
        vec![ctx.slot_here("rm")?]
    } else {
        let found: Result<Vec<Slot>> = args.slots.iter().map(|w| slot::find(common, w)).collect();
        found?
    };
    let mut plans = Vec::new();
    for found in slots {
        if plans.iter().any(|p: &Plan| p.slot.name == found.name) {
            continue;
        }
        // A slot an `add` is still making (or another command is changing) is not removed
        // under it: busy, exit 4.
        let lock = SlotLock::acquire(common, &found.name, "rm")?;
        let slot = slot::load(common, &found.name)?;
        plans.push(plan(&ctx.repo, slot, lock, args, None)?);
    }
    let refused: Vec<&Plan> = plans.iter().filter(|p| !p.losses.is_empty()).collect();
    if !refused.is_empty() && !args.force {
        let mut text = String::from("nothing was removed; removing would lose:\n");
        for plan in &refused {
            text.push_str(&format!(
                "  slot {} ({}):\n",
                plan.slot.name,
                plan.slot.path.display()
            ));
            for loss in &plan.losses {
                text.push_str(&format!("    - {loss}\n"));
            }
        }
        text.push_str("commit or stash what you want to keep, or pass --force to remove anyway");
        if refused
            .iter()
            .any(|p| p.losses.iter().any(|l| l.contains("commit")))
            && !args.delete_branch
        {
            text.push_str(" (--keep-branch removes the slot and keeps its commits on the branch)");
        }
        return Err(crate::error::refused(text));
    }
    // Never pull the directory out from under a running server or agent unless told to.
    let going: Vec<(&str, &std::path::Path)> = plans
        .iter()
        .filter(|p| p.slot.path.is_dir())
        .map(|p| (p.slot.name.as_str(), p.slot.path.as_path()))
        .collect();
    crate::procs::clear_slot(&going, args.kill, args.force)?;
    let mut removed = Vec::new();
    for plan in plans {
        let stood_inside = ctx.cwd.starts_with(&plan.slot.path);
        let mut done = json!({
            "name": plan.slot.name,
            "path": plan.slot.path,
            "branch": plan.slot.branch,
            "branch_deleted": matches!(plan.branch, BranchFate::Delete(_)),
            "ignored_removed": plan.ignored,
        });
        let name = plan.slot.name.clone();
        match remove(&ctx, plan, args) {
            Ok(released) => done["released"] = json!(released),
            Err(e) => {
                keep_broken(common, &name, &e);
                return Err(e);
            }
        }
        removed.push(done);
        // The shell stood in the directory just removed: with shell integration, it moves to
        // the main worktree at its next prompt.
        if stood_inside && let Err(e) = crate::shell::send_cd(&ctx.repo.main_worktree) {
            eprintln!("git-agent: warning: could not move the shell out of the slot: {e:#}");
        }
    }
    if args.json {
        crate::output::print_json(&json!({
            "version": crate::output::JSON_VERSION,
            "removed": removed,
        }))?;
    }
    Ok(())
}

/// Removes a slot whose branch `merge` has just landed: the same checks and steps as
/// `git agent rm SLOT [--kill]`, so it refuses (and `rm` finishes) exactly where `rm` would.
/// `known`: the slot's status as `merge` read it before landing, when nothing ran in the slot
/// since (no test, no hook of its rebase, no ignore rule changed) and no process was found
/// there (it then looks neither again); `None` reads both again. rm itself has the same gap between its check and the
/// removal.
/// `lock`: the slot's lock, which `merge` has held since before it planned.
pub(super) fn remove_landed(
    ctx: &Ctx,
    slot: Slot,
    lock: SlotLock,
    kill: bool,
    known: Option<git::Changes>,
) -> Result<()> {
    let scan = known.is_none();
    let args = Rm {
        slots: vec![slot.name.clone()],
        force: false,
        kill,
        delete_branch: false,
        keep_branch: false,
        json: false,
    };
    // Read again, as `rm` does (under the lock merge holds).
    let slot = slot::load(&ctx.repo.common_dir, &slot.name)?;
    let plan = plan(&ctx.repo, slot, lock, &args, known)?;
    if !plan.losses.is_empty() {
        return Err(crate::error::refused(format!(
            "removing slot {} would lose:\n    - {}",
            plan.slot.name,
            plan.losses.join("\n    - ")
        )));
    }
    if scan && plan.slot.path.is_dir() {
        crate::procs::clear_slot(&[(&plan.slot.name, &plan.slot.path)], kill, false)?;
    }
    let stood_inside = ctx.cwd.starts_with(&plan.slot.path);
    remove(ctx, plan, &args)?;
    if stood_inside && let Err(e) = crate::shell::send_cd(&ctx.repo.main_worktree) {
        eprintln!("git-agent: warning: could not move the shell out of the slot: {e:#}");
    }
    Ok(())
}

/// Marks the record of a removal that stopped on an error (not an interruption) as broken,
/// with the reason, for `ls` and `doctor`; `rm` again (or `prune`) finishes it.
fn keep_broken(common: &std::path::Path, name: &str, error: &anyhow::Error) {
    if crate::error::kind(error) == crate::error::Kind::Interrupted {
        return;
    }
    if let Ok(mut record) = slot::load(common, name)
        && record.state == State::Removing
    {
        record.broken = Some(format!("{error:#}"));
        let _ = slot::save(common, &record);
    }
}

/// What removing `slot` would lose and do. `known`: the worktree's `git status` when the
/// caller has just read it and nothing ran in the slot since (`merge`).
fn plan(
    repo: &Repo,
    mut slot: Slot,
    lock: SlotLock,
    args: &Rm,
    known: Option<git::Changes>,
) -> Result<Plan> {
    let mut losses = Vec::new();
    let mut ignored = Vec::new();
    follow_move(repo, &mut slot)?;
    let exists = slot.path.is_dir();
    // A removal already under way may have left the worktree half-deleted (its `.git` file
    // goes first): git can no longer say what is in it, and the checks were passed before.
    let half_removed =
        slot.state == State::Removing && !worktree::intact(&repo.common_dir, &slot.path);
    if exists && !half_removed {
        let changes = match known {
            Some(changes) => changes,
            None => git::changes(&slot.path)?,
        };
        for (what, list) in [
            ("staged change", &changes.staged),
            ("uncommitted change", &changes.modified),
            ("untracked file", &changes.untracked),
        ] {
            if !list.is_empty() {
                losses.push(format!(
                    "{} {what}{}: {}",
                    list.len(),
                    if list.len() == 1 { "" } else { "s" },
                    sample(list)
                ));
            }
        }
        ignored = own_files_left_out(&slot, changes.ignored);
        if let Some(wt) = repo
            .worktrees()?
            .into_iter()
            .find(|w| same_path(&w.path, &slot.path))
        {
            if wt.locked {
                losses.push("the worktree is locked (`git worktree unlock` it first if that was not on purpose)".into());
            }
            if wt.branch.is_none() {
                let mut cmd = git::git_in(&slot.path);
                cmd.args([
                    "rev-list",
                    "--count",
                    "HEAD",
                    "--not",
                    "--branches",
                    "--remotes",
                    "--tags",
                ]);
                let orphans: usize = git::run(cmd)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                if orphans > 0 {
                    losses.push(format!(
                        "{orphans} commit(s) on a detached HEAD that no branch or tag holds"
                    ));
                }
            }
        }
    } else if slot.state == State::Ready && !slot.adopted {
        losses.push(
            "its directory is gone (moved or deleted by hand); if you moved it, run `git worktree repair <new path>`; \
             --force (or `git agent prune`) forgets it without touching files elsewhere"
                .to_string(),
        );
    }
    let owner = services::namespaces::Owner {
        repo: &repo.common_dir,
        name: &slot.name,
    };
    if let Some(why) = services::namespaces::redis_conflict(&slot.resources, owner)? {
        losses.push(why);
    }
    let branch = branch_fate(repo, &slot, args, &mut losses)?;
    Ok(Plan {
        slot,
        _lock: lock,
        losses,
        ignored,
        branch,
    })
}

/// A slot whose worktree `git worktree move` moved is removed where it now is: its record
/// (and lease) follow git's entry first.
fn follow_move(repo: &Repo, slot: &mut Slot) -> Result<()> {
    let common = &repo.common_dir;
    if let Place::Moved(to) = worktree::locate(common, &slot.path, slot.worktree_id.as_deref()) {
        eprintln!(
            "git-agent: slot {} was moved to {} (git worktree move); removing it there",
            slot.name,
            to.display()
        );
        let mut locked = crate::registry::Locked::acquire()?;
        slot.path = to.clone();
        slot::save(common, slot)?;
        if let Some(entry) = locked
            .registry
            .slots
            .iter_mut()
            .find(|e| e.repo == *common && e.name == slot.name)
        {
            entry.root = to;
        }
        locked.save()?;
    }
    Ok(())
}

fn branch_fate(
    repo: &Repo,
    slot: &Slot,
    args: &Rm,
    losses: &mut Vec<String>,
) -> Result<BranchFate> {
    use crate::land::integration::{self, Verdict};
    let Some(mut verdict) = integration::of_branch(repo, &slot.branch, &slot.base)? else {
        return Ok(BranchFate::Gone);
    };
    // A slot made on a detached HEAD is merged once its work is on that commit or on the
    // branch the HEAD was checked out from.
    if let (Verdict::NotIntegrated(_), Some(from)) = (&verdict, slot.base_from.as_deref())
        && let Some(found @ Verdict::Integrated { .. }) =
            integration::of_branch(repo, &slot.branch, from)?
    {
        verdict = found;
    }
    let merged = match &verdict {
        Verdict::Integrated { into, how } => {
            Some(format!("integrated into {into}: {}", how.describe()))
        }
        Verdict::NotIntegrated(_) => None,
    };
    if let Verdict::NotIntegrated(missing) = &verdict
        && !args.keep_branch
    {
        // Not integrated, but maybe pushed: commits on the branch's own upstream are safe.
        let upstream = repo.upstream(&slot.branch);
        if let Some(loss) = integration::refusal(repo, &slot.branch, missing, upstream.as_deref())?
        {
            // A detached HEAD's base is a commit id: named as one.
            losses.push(loss.replace(&slot.base, &slot.base_text()));
        }
    }
    if let Some(why) = &merged
        && !args.keep_branch
        && (slot.created_branch || args.delete_branch)
    {
        return Ok(BranchFate::Delete(why.clone()));
    }
    if args.delete_branch && !args.keep_branch {
        return Ok(BranchFate::Delete("--delete-branch".into()));
    }
    let why = if args.keep_branch {
        "kept (--keep-branch)".to_string()
    } else if merged.is_some() {
        "kept: git-agent did not create it (delete it with --delete-branch)".to_string()
    } else {
        format!("kept: not merged into {}", slot.base_text())
    };
    Ok(BranchFate::Keep(why))
}

/// Ignored files removal destroys, minus git-agent's own: its directory, and the env file
/// unless the user wrote lines of their own into it (then it is named, so they know).
fn own_files_left_out(slot: &Slot, ignored: Vec<String>) -> Vec<String> {
    ignored
        .into_iter()
        .filter_map(|path| {
            if path == ".git-agent/" {
                return None;
            }
            if path == slot.env_file {
                let text = std::fs::read_to_string(slot.path.join(&path)).unwrap_or_default();
                let own = crate::envfile::without_block(&text).unwrap_or(text);
                let lines = own.lines().filter(|l| !l.trim().is_empty()).count();
                return (lines > 0).then(|| format!("{path} ({lines} line(s) of your own)"));
            }
            Some(path)
        })
        .collect()
}

/// Once the last slot is gone, the directory that held the slots goes too: the ones `add`
/// made for this slot, and the default `<repo>-worktrees`, each only when empty.
fn remove_empty_holder(repo: &Repo, slot: &Slot) {
    crate::provision::remove_empty_dirs(&repo.common_dir, &slot.made_dirs);
    let Some(parent) = slot.path.parent() else {
        return;
    };
    let default = repo
        .default_slot_path(&slot.name)
        .is_some_and(|p| p.parent() == Some(parent));
    let keep = [&repo.main_worktree, &repo.common_dir]
        .iter()
        .any(|d| d.starts_with(parent));
    // Under the repository's lock, as an `add` makes it and its worktree under that lock.
    if default
        && !keep
        && let Ok(_lock) = crate::git::repo_lock(&repo.common_dir)
    {
        let _ = std::fs::remove_dir(parent);
    }
}

fn sample(list: &[String]) -> String {
    let shown: Vec<&str> = list.iter().take(5).map(String::as_str).collect();
    let more = list.len().saturating_sub(5);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Removes the slot; returns what of its data was released.
fn remove(ctx: &Ctx, plan: Plan, args: &Rm) -> Result<Vec<String>> {
    let Plan {
        mut slot,
        ignored,
        branch,
        ..
    } = plan;
    let common = &ctx.repo.common_dir;
    let mut steps = txn::Txn::new();
    steps.step("mark")?;
    slot.state = State::Removing;
    slot.pid = Some(std::process::id());
    slot.broken = None;
    // From here on the record says whether the branch goes, for a `prune` that finishes the
    // job after this process is killed (it deletes it only if merged, like rm by default).
    slot.created_branch = matches!(branch, BranchFate::Delete(_));
    slot::save(common, &slot)?;
    if !ignored.is_empty() {
        eprintln!(
            "git-agent: removing {} ignored file(s) with slot {}: {}",
            ignored.len(),
            slot.name,
            sample(&ignored)
        );
    }
    steps.step("services")?;
    let mut released = Vec::new();
    let owner = services::namespaces::Owner {
        repo: common,
        name: &slot.name,
    };
    match services::release(&slot.resources, owner) {
        Ok(done) => {
            for what in done {
                eprintln!("git-agent: released {what}");
                released.push(what);
            }
        }
        // A server that is gone for good must not make a slot impossible to remove; with
        // --force the slot goes and the user is told exactly what is left to release.
        Err(e) if args.force => eprintln!(
            "git-agent: warning: could not release the slot's data ({e:#}); removing the slot anyway (--force). \
             Left behind, to release by hand: {}",
            services::describe_resources(&slot.resources)
        ),
        Err(e) => {
            return Err(e.context(format!(
                "could not release the data of slot {}; nothing else was removed. Run `git agent rm {}` again \
                 when the server is reachable, or add --force to remove the slot and release it by hand",
                slot.name, slot.name
            )));
        }
    }
    steps.step("worktree")?;
    // Whatever state an earlier, interrupted removal left it in (the `.git` file gone, a
    // process still writing into it, only git's entry left).
    worktree::remove(&ctx.repo, &slot.path)?;
    remove_empty_holder(&ctx.repo, &slot);
    steps.step("branch")?;
    match &branch {
        BranchFate::Delete(why) => match worktree::delete_branch(&ctx.repo, &slot.branch)? {
            None => eprintln!("git-agent: deleted branch {} ({why})", slot.branch),
            Some(kept) => eprintln!("git-agent: {kept}"),
        },
        BranchFate::Keep(why) => eprintln!("git-agent: branch {} {why}", slot.branch),
        BranchFate::Gone => {}
    }
    steps.step("release")?;
    crate::provision::release_lease(common, &slot.name)?;
    steps.commit();
    eprintln!(
        "git-agent: removed slot {} ({})",
        slot.name,
        slot.path.display()
    );
    Ok(released)
}
