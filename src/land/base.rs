//! Moving the base branch to the landed commit, only ever forward, and back on rollback.
//!
//! Where the base is checked out (usually in the main worktree), it moves the way
//! `git merge --ff-only` moves it there: files the landing changes are updated, the
//! worktree's own uncommitted changes stay as they are, and when they are in the way nothing
//! is done. Git's hooks do not run inside the transaction (a `post-merge` hook that pushes
//! could not be taken back); `post_merge` runs that hook once the landing is final. Where the
//! base is not checked out, its ref moves by compare-and-swap (`git update-ref NEW OLD`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gix::ObjectId;

use crate::git::{self, Repo};
use crate::txn::Txn;

/// How the base was moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// By a fast-forward in the worktree that has it checked out.
    Worktree(PathBuf),
    /// By a compare-and-swap of its ref.
    Ref,
}

/// The worktree's own changes (staged, modified, untracked or ignored) to paths in `files`:
/// what a fast-forward there would overwrite or refuse to.
pub fn in_the_way(dir: &Path, files: &[String]) -> Result<Vec<String>> {
    let changes = git::changes(dir)?;
    let mut found: Vec<String> = Vec::new();
    let hits = |own: &str| {
        let own_dir = own.strip_suffix('/');
        files.iter().any(|f| match own_dir {
            // An ignored or untracked directory: any landed file inside it.
            Some(d) => f.starts_with(&format!("{d}/")),
            None => f == own || own.starts_with(&format!("{f}/")),
        })
    };
    for own in changes
        .staged
        .iter()
        .chain(&changes.modified)
        .chain(&changes.untracked)
        .chain(&changes.ignored)
    {
        if hits(own) && !found.contains(own) {
            found.push(own.clone());
        }
    }
    Ok(found)
}

pub fn in_the_way_message(into: &str, dir: &Path, files: &[String]) -> String {
    let list: String = files
        .iter()
        .take(10)
        .map(|f| format!("\n    {f}"))
        .collect();
    let more = files.len().saturating_sub(10);
    format!(
        "nothing was changed: {into} is checked out in {}, whose own uncommitted changes are in the way of the landing:{list}{}\n\
         commit or stash them there (git-agent does not touch them), then run `git agent merge` again",
        dir.display(),
        if more > 0 {
            format!("\n    ... and {more} more")
        } else {
            String::new()
        }
    )
}

/// Moves `into` from `old` to `new` (a descendant of `old`), registering the way back.
pub fn advance(
    repo: &Repo,
    into: &str,
    old: ObjectId,
    new: ObjectId,
    worktree: Option<&Path>,
    txn: &mut Txn,
) -> Result<Moved> {
    let main = repo.main_worktree.as_path();
    let full = format!("refs/heads/{into}");
    let moved_meanwhile = || {
        crate::error::busy(format!(
            "{into} moved while the slot was being landed; nothing was landed, run `git agent merge` again"
        ))
    };
    match worktree {
        Some(dir) => {
            // The worktree's own changes were checked when planning; what changed since, git
            // itself refuses to overwrite, but for files it thinks expendable: ignored files
            // where the landing adds one.
            let files = super::content::files_between(&repo.gix, old, new)?;
            let blocking = expendable_in_the_way(dir, &files);
            if !blocking.is_empty() {
                return Err(crate::error::refused(in_the_way_message(
                    into, dir, &blocking,
                )));
            }
            let still = repo.worktrees()?.into_iter().any(|w| {
                crate::fsutil::same_path(&w.path, dir) && w.branch.as_deref() == Some(into)
            });
            if !still {
                return Err(crate::error::busy(format!(
                    "{} no longer has {into} checked out; nothing was landed",
                    dir.display()
                )));
            }
            if repo.resolve(&full) != Some(old) {
                return Err(moved_meanwhile());
            }
            let (d, f, name) = (dir.to_path_buf(), full.clone(), into.to_string());
            // Registered first: a Ctrl-C that stops git half-way is undone too.
            txn.on_undo("", move || {
                if head_ref(&d)?.as_deref() == Some(f.as_str()) && rev(&d, &f)? == Some(new) {
                    let mut cmd = git::git_in(&d);
                    cmd.args(["reset", "--keep", "--quiet"])
                        .arg(old.to_string());
                    git::run(cmd).with_context(|| {
                        format!("moving {name} back to {} in {}", short(old), d.display())
                    })?;
                    eprintln!(
                        "git-agent: undone: moved {name} back to {} in {}",
                        short(old),
                        d.display()
                    );
                }
                Ok(())
            });
            let mut cmd = git::git_in(dir);
            cmd.args(["-c", "core.hooksPath=/dev/null"])
                .args(["merge", "--ff-only", "--quiet", "--no-stat"])
                .arg(new.to_string());
            let out = git::output(&mut cmd)?;
            crate::txn::check_interrupt()?;
            if !out.status.success() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                if stderr.contains("would be overwritten") {
                    // git names them, one per line, indented.
                    let files: Vec<String> = stderr
                        .lines()
                        .filter_map(|l| l.strip_prefix('\t'))
                        .map(str::to_string)
                        .collect();
                    return Err(crate::error::refused(in_the_way_message(into, dir, &files)));
                }
                bail!("{}", git::failure_text(&cmd, &out));
            }
            Ok(Moved::Worktree(dir.to_path_buf()))
        }
        None => {
            let (m, f, name) = (main.to_path_buf(), full.clone(), into.to_string());
            txn.on_undo("", move || {
                if rev(&m, &f)? == Some(new) {
                    let mut cmd = git::git_in(&m);
                    cmd.args(["update-ref", &f])
                        .arg(old.to_string())
                        .arg(new.to_string());
                    git::run(cmd)
                        .with_context(|| format!("moving {name} back to {}", short(old)))?;
                    eprintln!("git-agent: undone: moved {name} back to {}", short(old));
                }
                Ok(())
            });
            let mut cmd = git::git_in(main);
            cmd.args(["update-ref", "-m", "git-agent merge", &full])
                .arg(new.to_string())
                .arg(old.to_string());
            if let Err(e) = git::run(cmd) {
                if repo.resolve(&full) != Some(old) {
                    return Err(moved_meanwhile());
                }
                return Err(e);
            }
            Ok(Moved::Ref)
        }
    }
}

/// Files (ignored ones, say) in the worktree at a path the landing adds, or where one of
/// its directories goes: what `git merge` would overwrite without asking.
fn expendable_in_the_way(dir: &Path, files: &[(String, bool)]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, new) in files {
        let mut parts: Vec<&str> = path.split('/').collect();
        let mut check = Vec::new();
        if *new {
            check.push(path.clone());
        }
        // A file where the landing needs a directory.
        parts.pop();
        let mut prefix = String::new();
        for part in parts {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            check.push(prefix.clone());
        }
        for p in check {
            let Ok(meta) = std::fs::symlink_metadata(dir.join(&p)) else {
                continue;
            };
            let blocks = if p == *path { true } else { !meta.is_dir() };
            if blocks && !found.contains(&p) {
                found.push(p);
            }
        }
    }
    found
}

/// Runs the `post-merge` hook where the base moved in a worktree, as `git merge` would have.
pub fn post_merge(repo: &Repo, moved: &Moved) {
    let Moved::Worktree(dir) = moved else { return };
    // No process when there is no hook to run (`git hook run` would find none either).
    if !hooks_dir(repo, dir).join("post-merge").exists() {
        return;
    }
    let mut cmd = git::git_in(dir);
    cmd.args(["hook", "run", "--ignore-missing", "post-merge", "--", "0"]);
    match git::output(&mut cmd) {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stderr);
            let text = text.trim();
            if !text.is_empty() {
                eprintln!("{text}");
            }
        }
        Ok(out) => eprintln!(
            "git-agent: warning: the post-merge hook failed (the landing stands): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("git-agent: warning: could not run the post-merge hook: {e:#}"),
    }
}

/// Where git looks for the hooks it runs in the worktree `dir`: `core.hooksPath` (relative to
/// the worktree), else the repository's `hooks` directory. Read in-process.
pub fn hooks_dir(repo: &Repo, dir: &Path) -> PathBuf {
    repo.gix
        .config_snapshot()
        .trusted_path("core.hooksPath")
        .ok()
        .flatten()
        .map(|p| dir.join(p))
        .unwrap_or_else(|| repo.common_dir.join("hooks"))
}

/// The ref a worktree's HEAD points at (`refs/heads/main`), `None` when detached.
pub fn head_ref(dir: &Path) -> Result<Option<String>> {
    let mut cmd = git::git_in(dir);
    cmd.args(["symbolic-ref", "--quiet", "HEAD"]);
    let out = git::output(&mut cmd)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// What a ref points at now, `None` when it does not exist.
pub fn rev(dir: &Path, name: &str) -> Result<Option<ObjectId>> {
    let mut cmd = git::git_in(dir);
    cmd.args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{name}^{{commit}}"));
    let out = git::output(&mut cmd)?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match ObjectId::from_hex(text.trim().as_bytes()) {
        Ok(id) => Ok(Some(id)),
        Err(e) => bail!("git rev-parse printed '{}': {e}", text.trim()),
    }
}

pub fn short(id: ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}
