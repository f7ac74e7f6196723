//! `git agent adopt PATH [--name SLOT]`: a linked worktree made by hand, by `git worktree add`
//! or by another tool becomes a slot. It gets what `add` gives a slot (ports, data services,
//! the env file's managed block, setup), but its files are the user's: nothing in it is
//! changed beyond the env file's block and what setup adds, and rolling back leaves the
//! worktree and its branch where they were.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::Adopt;
use crate::config::Config;
use crate::context::Ctx;
use crate::fsutil::same_path;
use crate::git::Repo;
use crate::provision::{self, NewSlot};
use crate::txn::{self, Txn};
use crate::{registry, slot};

pub fn run(args: &Adopt) -> Result<()> {
    let cwd = crate::context::current_dir()?;
    let given = if args.path.is_absolute() {
        args.path.clone()
    } else {
        cwd.join(&args.path)
    };
    let path = std::fs::canonicalize(&given)
        .with_context(|| format!("{} does not exist", given.display()))?;
    let repo = Repo::discover(&path)?;
    let config = Config::load_for(&repo)?;
    let ctx = Ctx { repo, config, cwd };
    let branch = check_worktree(&ctx, &path)?;
    // A tool that names its worktrees (Claude Code's `.claude/worktrees/NAME` on branch
    // `worktree-NAME`) gives the slot that name; others are named after their branch.
    let own_name = crate::worktrees::others(&ctx.repo, &[])
        .into_iter()
        .find(|o| same_path(&o.path, &path))
        .filter(|o| o.made_by.is_some())
        .map(|o| o.slot_name());
    // What the main worktree has checked out (its commit on a detached HEAD), unless the
    // template names a base.
    let base = crate::provision::default_base(&ctx, ctx.repo.head_of_main())?;
    let (task, setup) = provision::task_and_setup(&ctx, &args.prep)?;
    txn::install_handler();
    let (adopted, setup_failed) = Txn::new().run(|txn| {
        txn.step("validate")?;
        provision::check_template(&ctx.config)?;
        txn.step("lease")?;
        let new = NewSlot {
            name: args.name.as_deref().or(own_name.as_deref()),
            branch: &branch,
            base: &base.rev,
            base_from: base.from.as_deref(),
            created_branch: false,
            adopted: true,
            task,
        };
        let slot = provision::lease(&ctx, new, |_| Ok(path.clone()), txn)?;
        provision::prepare(&ctx, slot, &setup, txn)
    })?;
    provision::report(&adopted, args.json, true)?;
    if let Some(e) = setup_failed {
        return Err(provision::kept_after_failure(&adopted, e));
    }
    Ok(())
}

/// The worktree must be a linked worktree of its repository, on a branch, and not a slot yet.
/// Returns its branch.
fn check_worktree(ctx: &Ctx, path: &Path) -> Result<String> {
    let repo = &ctx.repo;
    if same_path(&repo.main_worktree, path) {
        bail!(
            "{} is the repository's main worktree; a slot is a linked worktree (`git agent add BRANCH` makes one)",
            path.display()
        );
    }
    let worktrees = repo.worktrees()?;
    let Some(worktree) = worktrees.iter().skip(1).find(|w| same_path(&w.path, path)) else {
        let top = toplevel(path);
        match top {
            Some(top) if !same_path(&top, path) => bail!(
                "{} is inside the worktree {}; adopt the worktree's top directory",
                path.display(),
                top.display()
            ),
            _ => bail!(
                "{} is not a linked worktree of {}; `git worktree list` shows them",
                path.display(),
                repo.main_worktree.display()
            ),
        }
    };
    let Some(branch) = worktree.branch.clone() else {
        bail!(
            "{} has a detached HEAD; a slot needs a branch: check one out first (`git -C {} switch -c NAME`)",
            path.display(),
            path.display()
        );
    };
    if let Some(existing) = slot::load_all(&repo.common_dir)?
        .into_iter()
        .find(|s| same_path(&s.path, path))
    {
        bail!("{} is already slot {}", path.display(), existing.name);
    }
    let registry = registry::load()?;
    if let Some(entry) = registry.slots.iter().find(|e| same_path(&e.root, path)) {
        bail!(
            "{} is already slot {} (of {})",
            path.display(),
            entry.name,
            entry.repo.display()
        );
    }
    Ok(branch)
}

fn toplevel(path: &Path) -> Option<PathBuf> {
    let mut cmd = crate::git::git_in(path);
    cmd.args(["rev-parse", "--show-toplevel"]);
    let text = crate::git::run(cmd).ok()?;
    Some(PathBuf::from(text.trim_end_matches('\n')))
}
