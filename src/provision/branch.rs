//! Which branch a new slot checks out, how (new, existing, tracking a remote one) and what it
//! is compared with: decided, and refused with what to do, before anything is changed.

use anyhow::{Result, bail};

use crate::cli::Add;
use crate::context::Ctx;
use crate::git;

/// How the slot gets its branch.
pub enum BranchPlan {
    /// Create `branch` from this revision.
    New { from: String },
    /// Check out the existing local branch.
    Existing,
    /// Create a local branch tracking this remote-tracking branch (`origin/x`).
    Track { remote: String },
}

/// What a new slot's branch is compared with: a branch, or the commit of a detached HEAD
/// with the branch it came from.
pub struct Base {
    pub rev: String,
    pub from: Option<String>,
}

/// The default base: `[worktree] base`, else what the worktree you stand in has checked out
/// (its branch, or on a detached HEAD its commit). Fails, saying what to do, in a repository
/// without commits.
pub fn default_base(ctx: &Ctx, head: git::Head) -> Result<Base> {
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
pub fn plan_branch(ctx: &Ctx, args: &Add) -> Result<(String, BranchPlan, Base)> {
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
