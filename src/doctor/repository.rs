//! The repository's shape, as git-agent sees it: where its main worktree is (a bare
//! repository's default-branch worktree, if any), where slots go by default (beside a bare
//! directory, outside a superproject), and what stops `add` (no commits yet).

use super::report::{Level, Report};
use crate::git::{Head, Repo};

pub(super) fn check_repository(report: &mut Report, repo: &Repo) {
    let slots = repo
        .default_slot_path("SLOT")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "?".into());
    let shape = if repo.bare {
        let main = if repo.has_main_worktree() {
            format!(
                "the worktree of its default branch, {}, stands in for the main one",
                repo.main_worktree.display()
            )
        } else {
            "no worktree has its default branch checked out".to_string()
        };
        format!("bare repository {}; {main}", repo.common_dir.display())
    } else if let Some(top) = &repo.superproject {
        format!(
            "{} is a submodule of {}; slots go outside the superproject",
            repo.main_worktree.display(),
            top.display()
        )
    } else {
        format!("repository {}", repo.main_worktree.display())
    };
    report.add(
        "repository",
        Level::Ok,
        format!("{shape}; new slots go to {slots} (`[worktree] path` changes that)"),
    );
    if repo.is_empty() {
        report.fix(
            "repository",
            Level::Warning,
            "the repository has no commits yet, and `git agent add` needs one to start a branch from",
            "git commit --allow-empty -m 'first commit'",
        );
    } else if let Head::Detached { commit, from } = repo.head_here() {
        let from = from
            .map(|b| format!(", checked out from {b}"))
            .unwrap_or_default();
        report.add(
            "repository",
            Level::Info,
            format!(
                "HEAD is detached at {}{from}: new slots start from that commit and are compared with it",
                &commit.to_string()[..8]
            ),
        );
    }
}
