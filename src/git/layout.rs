//! Where a repository's parts are, read from its files: the main worktree (a bare
//! repository's default-branch worktree, if any), the superproject around a submodule, the
//! repository's name and a worktree's HEAD.

use std::path::{Path, PathBuf};

use super::{Head, Repo};

/// The main worktree of the repository whose common dir is `common`, and whether it is bare:
/// from its config (`core.worktree`, set for submodules; `core.bare`), else the directory
/// holding a `.git` common dir, else what gix says.
pub(super) fn main_worktree_of(gix: &gix::Repository, common: &Path) -> (Option<PathBuf>, bool) {
    let config =
        gix::config::File::from_path_no_includes(common.join("config"), gix::config::Source::Local)
            .ok();
    if let Some(config) = &config {
        if let Some(dir) = config.string("core.worktree") {
            let dir = common.join(dir.to_string());
            return (Some(std::fs::canonicalize(&dir).unwrap_or(dir)), false);
        }
        if matches!(config.boolean("core.bare"), Ok(Some(true))) {
            return (None, true);
        }
    }
    if common.file_name().is_some_and(|n| n == ".git")
        && let Some(parent) = common.parent()
    {
        return (Some(parent.to_path_buf()), false);
    }
    // A separate git dir (`git init --separate-git-dir`): only gix knows, from a main worktree.
    match gix
        .main_repo()
        .ok()
        .and_then(|m| m.workdir().map(Path::to_path_buf))
    {
        Some(dir) => (Some(std::fs::canonicalize(&dir).unwrap_or(dir)), false),
        None => (None, gix.is_bare()),
    }
}

/// The outermost superproject whose worktree holds `main` as a submodule: found by walking up
/// to each enclosing worktree that lists the directory below it in its `.gitmodules`.
pub(super) fn superproject_of(main: &Path) -> Option<PathBuf> {
    let mut found = None;
    let mut inner = main.to_path_buf();
    let mut dir = main.parent();
    while let Some(candidate) = dir {
        if candidate.join(".git").exists() {
            let listed = std::fs::read_to_string(candidate.join(".gitmodules"))
                .ok()
                .zip(inner.strip_prefix(candidate).ok())
                .is_some_and(|(text, rel)| lists_submodule(&text, rel));
            if !listed {
                break;
            }
            found = Some(candidate.to_path_buf());
            inner = candidate.to_path_buf();
        }
        dir = candidate.parent();
    }
    found
}

/// Whether a `.gitmodules` text has a submodule at `rel` (`path = rel`).
fn lists_submodule(text: &str, rel: &Path) -> bool {
    let rel = rel.to_string_lossy();
    text.lines().any(|line| {
        line.trim()
            .strip_prefix("path")
            .map(|rest| rest.trim_start())
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|value| value.trim().trim_matches('"').trim_end_matches('/') == rel)
    })
}

/// The repository's short name: the main worktree's directory; a bare repository's own name
/// without `.git`, or for a hidden one (`proj/.bare`) the directory holding it.
pub(super) fn repo_name(common: &Path, main: Option<&Path>) -> String {
    let dir = match main {
        Some(dir) => dir,
        None if common
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.')) =>
        {
            common.parent().unwrap_or(common)
        }
        None => common,
    };
    dir.file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".git").to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "repo".into())
}

/// `HEAD` in the git dir `git_dir`, read as git does.
pub(super) fn head_in(git_dir: &Path, repo: &Repo) -> Head {
    let text = std::fs::read_to_string(git_dir.join("HEAD")).unwrap_or_default();
    if let Some(branch) = head_branch(&text) {
        return if repo.local_branch_exists(&branch) {
            Head::Branch(branch)
        } else {
            Head::Unborn(branch)
        };
    }
    let Ok(commit) = gix::ObjectId::from_hex(text.trim().as_bytes()) else {
        return Head::Unborn(String::new());
    };
    // "checkout: moving from main to 1a2b3c4" in the reflog names where it came from.
    let log = std::fs::read_to_string(git_dir.join("logs/HEAD")).unwrap_or_default();
    let from = log
        .lines()
        .rev()
        .find_map(|line| line.split_once("\tcheckout: moving from "))
        .and_then(|(_, rest)| rest.split_once(" to "))
        .map(|(from, _)| from.to_string())
        .filter(|from| {
            repo.resolve(&format!("refs/heads/{from}"))
                .is_some_and(|tip| repo.count_unique(commit, &[tip]).is_ok_and(|n| n == 0))
        });
    Head::Detached { commit, from }
}

pub(super) fn same_dir(a: &Path, b: &Path) -> bool {
    crate::fsutil::same_path(a, b)
}

pub(super) fn head_branch(head: &str) -> Option<String> {
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_string)
}
