//! `git agent merge`, the landing: one transaction from the rebase to the `[merge] after`
//! commands. Each step registers its undo before it changes anything, so a failure or a
//! Ctrl-C at any point (while git rebases, while a test runs) puts the branch, the slot's
//! worktree and the base back as they were. Removing the slot comes after, outside the
//! transaction: like `rm`, it is finished by running it again, never rolled back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use gix::ObjectId;

use super::base::{self, Moved, short};
use super::merge::{Plan, Strategy};
use crate::error::{Interrupted, Kind, fail};
use crate::git::{self, Repo};
use crate::txn::{self, Txn};

/// The environments the commands run with.
pub struct Envs {
    /// Variables a slot put into this process's environment (its shell hook, `exec`), removed
    /// for every command: a test of one slot never sees another's, and `after` sees what the
    /// main worktree has.
    pub unset: Vec<String>,
    /// For `[merge] test`: the slot's variables, over what those variables held before.
    pub test: BTreeMap<String, String>,
    /// For `[merge] after`: what those variables held before a slot set them.
    pub after: BTreeMap<String, String>,
}

/// Lands the plan: waits for the repository's merge lock, then runs the transaction.
pub fn land(repo: &Repo, plan: &Plan, envs: &Envs) -> Result<Landed> {
    let lock = wait_for_lock(&repo.common_dir, &plan.into)?;
    let landed = Txn::new().run(|txn| run(repo, plan, envs, txn));
    // Held until the rollback is over, so no other merge sees a base about to move back.
    drop(lock);
    landed
}

/// What the landing did.
#[derive(Debug, Clone)]
pub struct Landed {
    /// The base before.
    pub old: ObjectId,
    /// The base after, when something landed.
    pub new: Option<ObjectId>,
    /// The branch after the rebase.
    pub rebased: ObjectId,
    /// How the base moved, when it did.
    pub moved: Option<Moved>,
    pub tested: Vec<String>,
    pub after: Vec<String>,
    /// `[merge] after` was skipped: the base is not checked out anywhere.
    pub after_skipped: bool,
    /// The slot's files are as the plan read them: no git ran there, or its rebase ran no
    /// hook that could write files and changed no ignore rule. The removal may then reuse the
    /// plan's status instead of reading it again.
    pub slot_as_planned: bool,
}

fn run(repo: &Repo, plan: &Plan, envs: &Envs, txn: &mut Txn) -> Result<Landed> {
    let slot = &plan.slot;
    let main = repo.main_worktree.clone();
    let into_ref = format!("refs/heads/{}", plan.into);
    let branch_ref = format!("refs/heads/{}", slot.branch);

    txn.step("lock")?;
    // Re-read under the lock: another merge may have landed while this one waited.
    let old = repo
        .resolve(&into_ref)
        .with_context(|| format!("branch {} is gone", plan.into))?;
    let tip = repo
        .resolve(&branch_ref)
        .with_context(|| format!("branch {} is gone", slot.branch))?;
    if tip != plan.tip {
        return Err(crate::error::busy(format!(
            "branch {} moved while the merge was being planned; nothing was changed, run it again",
            slot.branch
        )));
    }
    let mut landed = Landed {
        old,
        new: None,
        rebased: tip,
        moved: None,
        tested: Vec::new(),
        after: Vec::new(),
        after_skipped: false,
        slot_as_planned: true,
    };
    if plan.integrated.is_some() {
        return Ok(landed);
    }

    txn.step("rebase")?;
    // The record says a merge is under way, and from where, before anything changes; the
    // rollback puts the record back as it was.
    let common = repo.common_dir.clone();
    let original = crate::slot::load(&common, &slot.name)?;
    let mut record = original.clone();
    record.intend(&common, "rebase", |s| {
        s.merging = Some(crate::slot::Merging {
            into: plan.into.clone(),
            base: old.to_string(),
            tip: tip.to_string(),
        })
    })?;
    {
        let common = common.clone();
        txn.on_undo("", move || crate::slot::save(&common, &original));
    }
    let rebased = rebase(repo, &slot.path, &slot.branch, old, tip, txn)?;
    landed.rebased = rebased;
    landed.slot_as_planned =
        rebased == tip || !rebase_may_have_changed_status(repo, &slot.path, tip, rebased);
    if rebased == old {
        // Every commit was already on the base (git rebase drops them): nothing to land.
        eprintln!(
            "git-agent: every commit of {} is already on {}: nothing to land",
            slot.branch, plan.into
        );
        return Ok(landed);
    }

    txn.step("test")?;
    record.intend(&common, "test", |_| {})?;
    if !plan.test.is_empty() {
        crate::setup::run::run_as("test", &plan.test, &slot.path, &envs.test, &envs.unset)
            .map_err(|e| match e.downcast_ref::<Interrupted>() {
                Some(_) => e,
                None => fail(
                    Kind::TestFailed,
                    format!(
                        "{e:#}; nothing was landed (the branch is back as it was; `--no-test` skips the tests)"
                    ),
                ),
            })?;
        landed.tested = plan.test.clone();
    }

    txn.step("land")?;
    record.intend(&common, "land", |_| {})?;
    let new = commit(&main, plan, old, rebased)?;
    let moved = base::advance(repo, &plan.into, old, new, plan.worktree.as_deref(), txn)?;
    landed.new = Some(new);
    landed.moved = Some(moved.clone());

    txn.step("after")?;
    record.intend(&common, "after", |_| {})?;
    if !plan.after.is_empty() {
        match &moved {
            Moved::Worktree(dir) => {
                crate::setup::run::run_as("after", &plan.after, dir, &envs.after, &envs.unset)
                    .map_err(|e| match e.downcast_ref::<Interrupted>() {
                        Some(_) => e,
                        None => e.context(
                            "a [merge] after command failed, so the landing is taken back; what the command itself did (a migration, a push) is not",
                        ),
                    })?;
                landed.after = plan.after.clone();
            }
            Moved::Ref => {
                eprintln!(
                    "git-agent: [merge] after skipped: {} is not checked out in any worktree",
                    plan.into
                );
                landed.after_skipped = true;
            }
        }
    }
    Ok(landed)
}

/// Rebases the slot's branch onto `onto` in the slot. The way back is registered first: abort
/// a rebase cut short, and put the branch and the worktree back at `tip` (with `reset --keep`,
/// which never discards changes of anyone's that it did not make).
fn rebase(
    repo: &Repo,
    dir: &Path,
    branch: &str,
    onto: ObjectId,
    tip: ObjectId,
    txn: &mut Txn,
) -> Result<ObjectId> {
    let branch_ref = format!("refs/heads/{branch}");
    // Already on top of the base: nothing to rebase.
    if repo.count_unique(onto, &[tip])? == 0 {
        return Ok(tip);
    }
    let (d, b, name) = (dir.to_path_buf(), branch_ref.clone(), branch.to_string());
    txn.on_undo("", move || {
        let mut undid = false;
        if rebasing(&absolute_git_dir(&d)?) {
            let mut cmd = git::git_in(&d);
            cmd.args(["rebase", "--abort"]);
            git::run(cmd)?;
            undid = true;
        }
        if base::rev(&d, &b)? != Some(tip) {
            let mut cmd = git::git_in(&d);
            cmd.args(["reset", "--keep", "--quiet"])
                .arg(tip.to_string());
            git::run(cmd)
                .with_context(|| format!("putting branch {name} back at {}", short(tip)))?;
            undid = true;
        }
        if undid {
            eprintln!(
                "git-agent: undone: put branch {name} back at {} in the slot",
                short(tip)
            );
        }
        Ok(())
    });
    let mut cmd = git::git_in(dir);
    cmd.args([
        "rebase",
        "--no-update-refs",
        "--no-autosquash",
        "--no-autostash",
        "--quiet",
    ])
    .arg(onto.to_string());
    let out = git::output(&mut cmd)?;
    // git (or its hook) killed by the Ctrl-C that reaches git-agent too, maybe a moment later.
    txn::child_status(&out.status)?;
    txn::check_interrupt()?;
    if !out.status.success() {
        if rebasing(&absolute_git_dir(dir)?) {
            let files = conflicted(dir);
            let mut abort = git::git_in(dir);
            abort.args(["rebase", "--abort"]);
            git::run(abort)?;
            return Err(fail(
                Kind::Conflict,
                format!(
                    "nothing was changed: {branch} does not rebase cleanly onto {}; conflicts in:{}\n\
                     resolve them in the slot (`git rebase {}` there, fix, `git rebase --continue`), then run `git agent merge` again",
                    short(onto),
                    files
                        .iter()
                        .map(|f| format!("\n    {f}"))
                        .collect::<String>(),
                    short(onto)
                ),
            ));
        }
        anyhow::bail!("{}", git::failure_text(&cmd, &out));
    }
    repo.resolve(&branch_ref)
        .with_context(|| format!("branch {branch} is gone after the rebase"))
}

/// Whether the rebase from `tip` to `rebased` in `dir` may have changed what `git status`
/// says beyond the tracked files it checked out: a hook git runs while rebasing (one that
/// installs dependencies or generates files on checkout) may have written files, and a
/// changed `.gitignore` may have turned ignored files into untracked ones. When unsure, yes.
fn rebase_may_have_changed_status(
    repo: &Repo,
    dir: &Path,
    tip: ObjectId,
    rebased: ObjectId,
) -> bool {
    let ignores_changed = super::content::files_between(&repo.gix, tip, rebased)
        .map(|files| {
            files
                .iter()
                .any(|(path, _)| path.rsplit('/').next() == Some(".gitignore"))
        })
        .unwrap_or(true);
    if ignores_changed {
        return true;
    }
    let hooks = base::hooks_dir(repo, dir);
    // The hooks `git rebase` runs.
    [
        "pre-rebase",
        "post-checkout",
        "post-commit",
        "post-rewrite",
        "reference-transaction",
    ]
    .iter()
    .any(|hook| is_executable(&hooks.join(hook)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The commit the base moves to, by strategy.
fn commit(main: &Path, plan: &Plan, old: ObjectId, rebased: ObjectId) -> Result<ObjectId> {
    let message = plan.message.clone().unwrap_or_default();
    let tree = format!("{rebased}^{{tree}}");
    let mut cmd = git::git_in(main);
    match plan.strategy {
        Strategy::Rebase => return Ok(rebased),
        Strategy::Squash => {
            cmd.args(["commit-tree", &tree, "-p"]).arg(old.to_string());
        }
        Strategy::NoFf => {
            cmd.args(["commit-tree", &tree, "-p"])
                .arg(old.to_string())
                .arg("-p")
                .arg(rebased.to_string());
        }
    }
    cmd.args(["-m", &message]);
    let text = git::run(cmd)?;
    ObjectId::from_hex(text.trim().as_bytes())
        .with_context(|| format!("git commit-tree printed '{}'", text.trim()))
}

fn absolute_git_dir(dir: &Path) -> Result<PathBuf> {
    let mut cmd = git::git_in(dir);
    cmd.args(["rev-parse", "--absolute-git-dir"]);
    Ok(PathBuf::from(git::run(cmd)?.trim()))
}

/// Whether a rebase is under way in the worktree `dir` (whose `.git` file names its git
/// directory; read directly, as this is asked before every merge).
pub fn rebase_in_progress(dir: &Path) -> bool {
    let from_file = std::fs::read_to_string(dir.join(".git"))
        .ok()
        .and_then(|t| t.strip_prefix("gitdir:").map(|p| dir.join(p.trim())));
    match from_file {
        Some(git_dir) => rebasing(&git_dir),
        None => absolute_git_dir(dir).is_ok_and(|g| rebasing(&g)),
    }
}

fn rebasing(git_dir: &Path) -> bool {
    git_dir.join("rebase-merge").exists() || git_dir.join("rebase-apply").exists()
}

fn conflicted(dir: &Path) -> Vec<String> {
    let mut cmd = git::git_in(dir);
    cmd.args(["diff", "--name-only", "--diff-filter=U", "-z"]);
    git::run(cmd)
        .map(|t| {
            t.split('\0')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// One landing at a time per repository: a second `merge` waits (saying so) until the first
/// is done, then rebases onto what it landed. Ctrl-C stops the wait.
fn wait_for_lock(common: &Path, into: &str) -> Result<std::fs::File> {
    let dir = common.join("agent");
    crate::fsutil::create_private_dir(&dir)?;
    let path = dir.join("merge.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("could not open {}", path.display()))?;
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !told {
                    eprintln!(
                        "git-agent: waiting for another `git agent merge` in this repository to finish (then rebasing onto {into} as it is then)"
                    );
                    told = true;
                }
                txn::check_interrupt()?;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("could not lock {}", path.display()));
            }
        }
    }
}
