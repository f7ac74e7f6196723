//! `git agent add`: worktree, branch, port lease, data services and env file, as one
//! transaction that undoes itself on any error or Ctrl-C.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::Add;
use crate::context::Ctx;
use crate::git::{self, Repo, repo_lock};
use crate::provision::{
    NewSlot, check_template, kept_after_failure, lease, prepare, remove_empty_dirs, report,
    slot_path, task_and_setup,
};
use crate::setup;
use crate::slot::{self, Slot};
use crate::slot_worktree as worktree;
use crate::txn::{self, Txn};

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
    let ctx = Ctx::load()?;
    // One verb to go: an existing slot's name or branch goes there instead of making another.
    if let Some(slot) = existing(&ctx, args)? {
        return go(&ctx, slot, args);
    }
    let plan = plan_branch(&ctx, args)?;
    let (task, setup) = task_and_setup(&ctx, &args.prep)?;
    txn::install_handler();
    let (created, setup_failed) =
        Txn::new().run(|txn| create(&ctx, args, &plan, task, &setup, txn))?;
    if args.name.is_none() && created.name != crate::names::slot_name(&created.branch) {
        eprintln!(
            "git-agent: note: the name {} was taken by another slot, so this one is {}",
            crate::names::slot_name(&created.branch),
            created.name
        );
    }
    report(&created, args.json, true)?;
    if let Some(e) = setup_failed {
        return Err(kept_after_failure(&created, e));
    }
    if !args.command.is_empty() {
        let env = ctx.slot_env(&created);
        return crate::context::run_child(&created.path, &args.command, &env);
    }
    // With shell integration, the user's shell moves into the slot at its next prompt.
    if !args.no_cd
        && let Err(e) = crate::shell::send_cd(&created.path)
    {
        eprintln!("git-agent: warning: could not move the shell into the slot: {e:#}");
    }
    Ok(())
}

/// The slot `args.branch` names, by name or branch, when add should go there rather than make
/// one. With `--new`, or with a flag that only shapes a new slot, naming one is an error, so a
/// name never silently means two slots.
fn existing(ctx: &Ctx, args: &Add) -> Result<Option<Slot>> {
    use crate::error::{Kind, fail};
    let wanted = args.branch.as_str();
    let slots = slot::load_all(&ctx.repo.common_dir)?;
    if let Some(name) = &args.name
        && let Some(other) = slots.iter().find(|s| s.branch == *name && s.name != *name)
    {
        return Err(fail(
            Kind::Usage,
            format!(
                "--name {name} is the branch of slot {}, so `{name}` would mean two slots; pick another name",
                other.name
            ),
        ));
    }
    let found = slots
        .iter()
        .find(|s| s.name == wanted)
        .or_else(|| slots.iter().find(|s| s.branch == wanted));
    let Some(slot) = found.cloned() else {
        return Ok(None);
    };
    let here = format!(
        "slot {} (branch {}, {})",
        slot.name,
        slot.branch,
        slot.path.display()
    );
    if args.new {
        return Err(fail(
            Kind::Usage,
            format!(
                "'{wanted}' is {here}, and --new asks for a new slot: `git agent add {wanted}` goes there; \
                 for a new slot, pick another branch"
            ),
        ));
    }
    let shaping = [
        ("--name", args.name.is_some()),
        ("--from", args.from.is_some()),
        ("--path", args.path.is_some()),
        (
            "--task",
            args.prep.task.is_some() || args.prep.task_file.is_some(),
        ),
        ("--no-setup", args.prep.no_setup),
        ("--keep-on-failure", args.prep.keep_on_failure),
    ];
    if let Some((flag, _)) = shaping.iter().find(|(_, given)| *given) {
        return Err(fail(
            Kind::Usage,
            format!(
                "'{wanted}' is {here}; {flag} is for a new slot: drop it to go there (`git agent task` changes a task)"
            ),
        ));
    }
    if slot.state != slot::State::Ready {
        let doing = if slot.state == slot::State::Creating {
            "created"
        } else {
            "removed"
        };
        // Whether that command still runs is told by the slot's lock, never by its pid.
        if let Some(who) = crate::slot_lock::SlotLock::holder(&ctx.repo.common_dir, &slot.name) {
            return Err(crate::error::busy(format!(
                "{here} is already being {doing} by {who}; run this again when it is done"
            )));
        }
        bail!(
            "{here} was left half {doing} by a git-agent command that was killed; `git agent prune` finishes that"
        );
    }
    if !slot.path.is_dir() {
        bail!("the directory of {here} is gone; `git agent prune` forgets the slot");
    }
    Ok(Some(slot))
}

/// Goes to an existing slot as `add` goes to a new one: its path (or JSON) on stdout, the
/// shell moved there, or CMD run in it.
fn go(ctx: &Ctx, slot: Slot, args: &Add) -> Result<()> {
    eprintln!(
        "git-agent: slot {} exists (branch {}); going there (`git agent add --new` makes a new one)",
        slot.name, slot.branch
    );
    report(&slot, args.json, false)?;
    if !args.command.is_empty() {
        let env = ctx.slot_env(&slot);
        return crate::context::run_child(&slot.path, &args.command, &env);
    }
    if !args.no_cd
        && let Err(e) = crate::shell::send_cd(&slot.path)
    {
        eprintln!("git-agent: warning: could not move the shell into the slot: {e:#}");
    }
    Ok(())
}

/// What a new slot's branch is compared with: a branch, or the commit of a detached HEAD
/// with the branch it came from.
pub(super) struct Base {
    pub rev: String,
    pub from: Option<String>,
}

/// The default base: `[worktree] base`, else what the worktree you stand in has checked out
/// (its branch, or on a detached HEAD its commit). Fails, saying what to do, in a repository
/// without commits.
pub(super) fn default_base(ctx: &Ctx, head: git::Head) -> Result<Base> {
    if let Some(base) = &ctx.config.template.worktree.base {
        return Ok(Base {
            rev: base.clone(),
            from: None,
        });
    }
    match head {
        git::Head::Branch(branch) => Ok(Base {
            rev: branch,
            from: None,
        }),
        git::Head::Detached { commit, from } => Ok(Base {
            rev: commit.to_string(),
            from,
        }),
        git::Head::Unborn(_) if ctx.repo.is_empty() => bail!(
            "this repository has no commits yet, and a slot's branch needs one to start from: make the first \
             commit (for example `git commit --allow-empty -m 'first commit'`), then run `git agent add` again"
        ),
        git::Head::Unborn(branch) => bail!(
            "the branch '{branch}' checked out here has no commits yet; commit on it first, or name a base with --from REF"
        ),
    }
}

/// The branch to check out and how; fails before anything is changed.
fn plan_branch(ctx: &Ctx, args: &Add) -> Result<(String, BranchPlan, Base)> {
    let repo = &ctx.repo;
    let wanted = args.branch.as_str();
    check_branch_name(wanted)?;
    if repo.is_empty() {
        default_base(ctx, git::Head::Unborn(String::new()))?;
    }
    let default = || default_base(ctx, repo.head_here());
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
            // Not a slot (add would have gone there): the main worktree or another tool's.
            let hint = match crate::worktrees::others(repo, &[])
                .into_iter()
                .find(|o| o.path == wt.path)
            {
                Some(other) => format!("; `{}` makes that worktree a slot", other.adopt_command()),
                None => "; use that worktree, or pick another branch".to_string(),
            };
            bail!(
                "branch '{wanted}' is already checked out at {}{hint}",
                wt.path.display()
            );
        }
        return Ok((wanted.to_string(), BranchPlan::Existing, default()?));
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
        return Ok((local, BranchPlan::Track { remote }, default()?));
    }
    // `origin/x` that origin has not been fetched for would otherwise become a local branch
    // literally named `origin/x`.
    if let Some((remote, branch)) = repo.names_remote(wanted) {
        bail!(
            "'{wanted}' names a branch of the remote {remote} that this repository has not fetched: run \
             `git fetch {remote} {branch}`, then `git agent add {wanted}` again (or `git agent add {branch}` \
             for a new local branch)"
        );
    }
    let base = match &args.from {
        Some(from) => Base {
            rev: from.clone(),
            from: None,
        },
        None => default()?,
    };
    if repo.resolve(&base.rev).is_none() {
        let source = if args.from.is_some() {
            "--from"
        } else {
            "the base ([worktree] base)"
        };
        bail!(
            "{source} '{}' is not a branch, tag or commit in this repository",
            base.rev
        );
    }
    let from = base.rev.clone();
    Ok((wanted.to_string(), BranchPlan::New { from }, base))
}

/// git's rules for branch names (`git check-ref-format --branch`), checked in-process: a
/// `git` process here cost a tenth of a small `add` (BENCHMARKS.md).
fn check_branch_name(branch: &str) -> Result<()> {
    if branch.starts_with('-') {
        bail!("'{branch}' is not a valid branch name (it starts with '-')");
    }
    let full = format!("refs/heads/{branch}");
    if let Err(e) = gix::validate::reference::branch_name(full.as_str().into()) {
        let why = e.to_string().to_lowercase();
        bail!("'{branch}' is not a valid branch name: {why} (see `git help check-ref-format`)");
    }
    Ok(())
}

fn create(
    ctx: &Ctx,
    args: &Add,
    plan: &(String, BranchPlan, Base),
    task: Option<String>,
    setup: &setup::Plan,
    txn: &mut Txn,
) -> Result<(Slot, Option<anyhow::Error>)> {
    let (branch, how, base) = plan;

    txn.step("validate")?;
    check_template(&ctx.config)?;

    txn.step("lease")?;
    let new = NewSlot {
        name: args.name.as_deref(),
        branch,
        base: &base.rev,
        base_from: base.from.as_deref(),
        created_branch: !matches!(how, BranchPlan::Existing),
        adopted: false,
        task,
    };
    let path = |name: &str| slot_path(ctx, args.path.as_deref(), name, branch);
    let mut slot = lease(ctx, new, path, txn)?;

    txn.step("worktree")?;
    {
        let _status = setup::progress::Status::start(&format!("checking out {}", slot.branch));
        add_worktree(&ctx.repo, &mut slot, how, txn)?;
    }
    prepare(ctx, slot, setup, txn)
}

fn add_worktree(repo: &Repo, slot: &mut Slot, how: &BranchPlan, txn: &mut Txn) -> Result<()> {
    // A new branch is made by its own `git branch` (which fails if the name exists), so that
    // the undo deletes only a branch this `add` made, never one a concurrent `add` won.
    let mut branch_cmd = repo.git();
    branch_cmd.arg("branch");
    let start = match how {
        BranchPlan::New { from } => {
            branch_cmd.args(["--no-track", "--", &slot.branch, from]);
            repo.resolve(from)
        }
        BranchPlan::Existing => None,
        BranchPlan::Track { remote } => {
            branch_cmd.args(["--track", "--", &slot.branch, remote]);
            repo.resolve(remote)
        }
    };
    let parent = slot
        .path
        .parent()
        .context("the slot path has no parent")?
        .to_path_buf();
    let made: Vec<PathBuf> = parent
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    // Intent: the record names the directories, the branch and its start commit before any
    // of them is made, so that whatever stops `add` from here on, `prune` can take them back.
    slot.intend(&repo.common_dir, "worktree", |s| {
        s.made_dirs = made.clone();
        s.start = start.map(|id| id.to_string());
    })?;
    // One undo for the whole step, registered before git starts: git may be stopped having
    // made the directory, its entry, the `.git` file, some files, or all of them (a
    // post-checkout hook runs last), and the undo copes with each.
    let branch_ours = std::rc::Rc::new(std::cell::Cell::new(slot.created_branch));
    {
        let repo = repo.clone();
        let (wt, branch, base) = (slot.path.clone(), slot.branch.clone(), slot.base.clone());
        let (ours, start) = (branch_ours.clone(), slot.start.clone());
        txn.on_undo("", move || {
            if worktree::remove(&repo, &wt)? {
                eprintln!("git-agent: undone: removed the worktree {}", wt.display());
            }
            if ours.get()
                && let Some(what) =
                    worktree::delete_new_branch(&repo, &branch, start.as_deref(), &base)?
            {
                eprintln!("git-agent: undone: {what}");
            }
            for dir in remove_empty_dirs(&repo.common_dir, &made) {
                eprintln!(
                    "git-agent: undone: removed the empty directory {}",
                    dir.display()
                );
            }
            Ok(())
        });
    }
    if slot.created_branch {
        let _lock = repo_lock(&repo.common_dir)?;
        if let Err(e) = git::run(branch_cmd) {
            if !crate::txn::interrupted() {
                // It exists: someone else's (a concurrent `add` of the same branch won).
                branch_ours.set(false);
                slot.intend(&repo.common_dir, "worktree", |s| s.created_branch = false)?;
            }
            return Err(e);
        }
    }
    {
        // The directories and the worktree in them under one lock: a failing `add` of another
        // slot takes back directories it made only while they are empty.
        let _lock = repo_lock(&repo.common_dir)?;
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
        let mut cmd = repo.git();
        cmd.args(["worktree", "add", "--quiet"])
            .arg(&slot.path)
            .arg(&slot.branch);
        git::run(cmd)?;
    }
    // git's name for the worktree, to follow it if it is moved.
    let id = worktree::worktree_id(&slot.path);
    slot.intend(&repo.common_dir, "worktree", |s| s.worktree_id = id)?;
    Ok(())
}
