//! Never lose work: `rm` over every way a slot can hold something the user would miss.
//! Without `--force` nothing at all changes (a snapshot of the whole temp tree stays the same)
//! and the message lists what would be lost; ignored files that removal destroys are listed
//! before they are deleted; an unmerged branch is never deleted without `--delete-branch`.

mod harden;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use harden::{Paused, diff, only_lock_files, snapshot};
use support::Env;

struct Case {
    env: Env,
    repo: PathBuf,
    slot: PathBuf,
}

/// A repository whose `.gitignore` ignores `uploads/` and `*.sqlite3`, with one slot `work`
/// on a new branch `work`.
fn case() -> Case {
    let env = Env::new();
    let repo = env.repo("app");
    env.commit(&repo, ".gitignore", "uploads/\n*.sqlite3\n");
    let slot = PathBuf::from(env.ok(&repo, &["add", "work"]).trim());
    assert!(slot.is_dir());
    Case { env, repo, slot }
}

impl Case {
    /// The whole temp tree, but lock files and the index files `git status` refreshes.
    fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot(&self.env.root(), &|rel| {
            only_lock_files(rel) || rel.ends_with("/index") || rel.starts_with("pause-")
        })
    }

    /// `rm ARGS` must refuse, change nothing, and name every item of `expect`.
    fn refuses(&self, args: &[&str], expect: &[&str]) -> String {
        let before = self.snapshot();
        let err = self.env.fails(&self.repo, args, 3);
        assert!(
            err.contains("nothing was removed; removing would lose"),
            "{args:?}: {err}"
        );
        for item in expect {
            assert!(
                err.contains(item),
                "{args:?}: the message does not name '{item}':\n{err}"
            );
        }
        let d = diff(&before, &self.snapshot());
        assert!(d.is_empty(), "{args:?} refused but changed things:\n{d}");
        err
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        self.env.git(dir, args)
    }

    fn gone_but_moved(&self) {
        assert!(harden::records(&self.repo).is_empty());
        assert!(harden::leases(&self.env).is_empty());
    }

    fn gone(&self) {
        assert!(!self.slot.exists(), "{} still exists", self.slot.display());
        assert!(harden::records(&self.repo).is_empty());
        harden::assert_consistent(&self.env, &[&self.repo]);
        assert!(harden::leases(&self.env).is_empty());
    }
}

#[test]
fn uncommitted_changes() {
    let c = case();
    std::fs::write(c.slot.join("README"), "edited\n").unwrap();
    c.refuses(
        &["rm", "work"],
        &["1 uncommitted change: README", "--force"],
    );
    c.env.ok(&c.repo, &["rm", "--force", "work"]);
    c.gone();
}

#[test]
fn staged_changes() {
    let c = case();
    std::fs::write(c.slot.join("new.txt"), "staged\n").unwrap();
    c.git(&c.slot, &["add", "new.txt"]);
    c.refuses(&["rm", "work"], &["1 staged change: new.txt"]);
    // --keep-branch does not make uncommitted work safe.
    c.refuses(&["rm", "--keep-branch", "work"], &["staged change"]);
}

#[test]
fn untracked_files() {
    let c = case();
    std::fs::create_dir_all(c.slot.join("notes/deep")).unwrap();
    std::fs::write(c.slot.join("notes/deep/idea.md"), "x").unwrap();
    std::fs::write(c.slot.join("scratch file with spaces.txt"), "x").unwrap();
    c.refuses(
        &["rm", "work"],
        &[
            "2 untracked files",
            "notes/deep/idea.md",
            "scratch file with spaces.txt",
        ],
    );
}

#[test]
fn commits_neither_pushed_nor_merged_and_no_upstream() {
    let c = case();
    c.env.commit(&c.slot, "feature.txt", "work\n");
    let err = c.refuses(
        &["rm", "work"],
        &[
            "branch work has 1 commit(s) not merged into main",
            "no upstream",
            "change feature.txt",
            "--keep-branch",
        ],
    );
    // --force alone removes the worktree but never deletes an unmerged branch.
    assert!(!err.contains("deleted"));
    let err = c.env.fails(&c.repo, &["rm", "--force", "work"], 0);
    assert!(err.contains("branch work kept"), "{err}");
    c.gone();
    assert!(harden::branches(&c.env, &c.repo).contains("work"));
    assert_eq!(
        c.git(&c.repo, &["log", "-1", "--format=%s", "work"]).trim(),
        "change feature.txt"
    );
}

#[test]
fn keep_branch_removes_the_slot_and_keeps_the_commits() {
    let c = case();
    c.env.commit(&c.slot, "feature.txt", "work\n");
    let err = c.env.fails(&c.repo, &["rm", "--keep-branch", "work"], 0);
    assert!(err.contains("kept (--keep-branch)"), "{err}");
    c.gone();
    assert_eq!(
        c.git(&c.repo, &["log", "-1", "--format=%s", "work"]).trim(),
        "change feature.txt"
    );
}

#[test]
fn delete_branch_with_force_is_the_only_way_to_drop_unmerged_commits() {
    let c = case();
    c.env.commit(&c.slot, "feature.txt", "work\n");
    c.refuses(
        &["rm", "--delete-branch", "work"],
        &["1 commit(s) not merged"],
    );
    c.env
        .ok(&c.repo, &["rm", "--force", "--delete-branch", "work"]);
    c.gone();
    assert!(!harden::branches(&c.env, &c.repo).contains("work"));
}

#[test]
fn pushed_but_unmerged_commits_are_safe_and_the_branch_is_kept() {
    let c = case();
    let origin = c.env.root().join("origin.git");
    c.git(
        &c.env.root(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    c.git(
        &c.repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    c.env.commit(&c.slot, "feature.txt", "work\n");
    c.git(&c.slot, &["push", "-q", "-u", "origin", "work"]);
    let err = c.env.fails(&c.repo, &["rm", "work"], 0);
    assert!(
        err.contains("branch work kept: not merged into main"),
        "{err}"
    );
    c.gone();
    // One more commit that is not pushed: refused, and the message names the upstream.
    let slot = PathBuf::from(c.env.ok(&c.repo, &["add", "work"]).trim());
    c.env.commit(&slot, "more.txt", "more\n");
    let c = Case { slot, ..c };
    c.refuses(
        &["rm", "work"],
        &[
            "1 commit(s) not merged into main nor on its upstream origin/work",
            "change more.txt",
        ],
    );
}

#[test]
fn merged_branch_created_by_git_agent_is_deleted() {
    let c = case();
    c.env.commit(&c.slot, "feature.txt", "work\n");
    c.git(&c.repo, &["merge", "-q", "--ff-only", "work"]);
    let err = c.env.fails(&c.repo, &["rm", "work"], 0);
    assert!(err.contains("deleted branch work"), "{err}");
    c.gone();
    assert!(!harden::branches(&c.env, &c.repo).contains("work"));
}

#[test]
fn an_existing_branch_git_agent_did_not_create_is_kept() {
    let env = Env::new();
    let repo = env.repo("app");
    env.git(&repo, &["branch", "theirs"]);
    env.ok(&repo, &["add", "theirs"]);
    let err = env.fails(&repo, &["rm", "theirs"], 0);
    assert!(err.contains("git-agent did not create it"), "{err}");
    assert!(harden::branches(&env, &repo).contains("theirs"));
}

#[test]
fn locked_worktree() {
    let c = case();
    c.git(
        &c.repo,
        &[
            "worktree",
            "lock",
            "--reason",
            "on a USB disk",
            c.slot.to_str().unwrap(),
        ],
    );
    c.refuses(&["rm", "work"], &["the worktree is locked"]);
    c.env.ok(&c.repo, &["rm", "--force", "work"]);
    c.gone();
}

#[test]
fn worktree_deleted_by_hand() {
    let c = case();
    std::fs::remove_dir_all(&c.slot).unwrap();
    c.refuses(
        &["rm", "work"],
        &["its directory is gone", "git worktree repair", "--force"],
    );
    c.env.ok(&c.repo, &["rm", "--force", "work"]);
    c.gone();
}

#[test]
fn worktree_moved_by_hand_is_never_touched_at_its_new_place() {
    let c = case();
    std::fs::write(c.slot.join("precious.txt"), "mine\n").unwrap();
    let moved = c.env.root().join("moved here");
    std::fs::rename(&c.slot, &moved).unwrap();
    c.refuses(
        &["rm", "work"],
        &["its directory is gone", "git worktree repair"],
    );
    // The hint works: after `git worktree repair`, the slot's record still points at the old
    // place, and --force forgets the slot without deleting anything where it now lives.
    c.env.ok(&c.repo, &["rm", "--force", "work"]);
    assert_eq!(
        std::fs::read_to_string(moved.join("precious.txt")).unwrap(),
        "mine\n"
    );
    assert!(moved.join("README").is_file());
    c.gone_but_moved();
}

#[test]
fn detached_head_at_a_commit_a_branch_holds_loses_nothing() {
    let c = case();
    c.git(&c.slot, &["checkout", "-q", "--detach"]);
    c.env.ok(&c.repo, &["rm", "work"]);
    c.gone();
}

#[test]
fn detached_head_with_orphan_commits_is_refused() {
    let c = case();
    c.git(&c.slot, &["checkout", "-q", "--detach"]);
    c.env.commit(&c.slot, "orphan.txt", "x\n");
    c.refuses(
        &["rm", "work"],
        &["1 commit(s) on a detached HEAD that no branch or tag holds"],
    );
    c.env.ok(&c.repo, &["rm", "--force", "work"]);
    c.gone();
}

#[test]
fn one_slot_with_work_stops_the_removal_of_all_named() {
    let c = case();
    let clean = PathBuf::from(c.env.ok(&c.repo, &["add", "clean"]).trim());
    std::fs::write(c.slot.join("wip.txt"), "x").unwrap();
    c.refuses(&["rm", "clean", "work"], &["slot work", "wip.txt"]);
    assert!(clean.is_dir());
}

#[test]
fn ignored_files_are_listed_before_they_are_deleted() {
    let c = case();
    std::fs::create_dir_all(c.slot.join("uploads")).unwrap();
    std::fs::write(c.slot.join("uploads/photo.jpg"), "jpeg").unwrap();
    std::fs::write(c.slot.join("dev.sqlite3"), "db").unwrap();
    // Stop rm just before it deletes the worktree: the list is already out, the files still
    // there.
    let log = c.env.root().join("rm.stderr");
    let paused = Paused::start_with_stderr(&c.env, &c.repo, &["rm", "work"], "worktree", &log);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("removing 2 ignored file(s) with slot work"),
        "{said}"
    );
    assert!(
        said.contains("uploads/") && said.contains("dev.sqlite3"),
        "{said}"
    );
    assert!(c.slot.join("uploads/photo.jpg").is_file());
    let done = paused.signal("INT");
    assert_eq!(done.status.code(), Some(130));
    c.env.ok(&c.repo, &["rm", "work"]);
    c.gone();
}

#[test]
fn the_env_file_with_lines_of_the_users_own_is_named() {
    let c = case();
    let env_file = c.slot.join(".env.local");
    let text = std::fs::read_to_string(&env_file).unwrap();
    std::fs::write(&env_file, format!("API_KEY=typed-by-hand\n{text}")).unwrap();
    let err = c.env.fails(&c.repo, &["rm", "work"], 0);
    assert!(err.contains(".env.local (1 line(s) of your own)"), "{err}");
    // Only git-agent's block: not worth a word.
    let c = case();
    let err = c.env.fails(&c.repo, &["rm", "work"], 0);
    assert!(!err.contains(".env.local"), "{err}");
}

/// The output of a refused `rm` goes to stderr only; stdout stays empty for scripts.
#[test]
fn refusal_prints_nothing_on_stdout() {
    let c = case();
    std::fs::write(c.slot.join("wip.txt"), "x").unwrap();
    let out = c
        .env
        .cmd(&c.repo)
        .args(["rm", "work"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
}
