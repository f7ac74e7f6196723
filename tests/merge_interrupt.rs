//! `merge` interrupted or failing at every step of its transaction, and while its children
//! run (git rebase, a test command, an `after` command), leaves the branch, the slot and the
//! base, with the main worktree's own uncommitted changes, exactly as they were: a snapshot of
//! what the user sees is the same before and after. Stopped while the slot is being removed,
//! after the landing, the landing stands and `rm` finishes the removal.
//!
//! The binary is stopped at a named step with the test hooks of `txn.rs`, or by a child that
//! reports its process group and waits, so no test relies on timing.

mod harden;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harden::{Paused, diff, user_state};
use support::{Env, text};

/// The steps of the landing transaction, in order.
const STEPS: &[&str] = &["lock", "rebase", "test", "land", "after"];
/// The steps of the removal that follows (those of `rm`).
const REMOVAL_STEPS: &[&str] = &["mark", "services", "worktree", "branch", "release"];

/// A child's shell line that reports the process group to the test and waits to be killed
/// (`exec`: a signal that came before a forked `sleep` started would leave it holding the
/// output pipes open).
const WAIT: &str =
    "read -r _ _ _ _ g _ < /proc/$$/stat; echo $g > \"$GIT_AGENT_TEST_PAUSE_FILE\"; exec sleep 60";

struct Fixture {
    env: Env,
    repo: PathBuf,
    slot: PathBuf,
}

/// A slot `a` with two commits, main moved on (so the landing rebases), approved `[merge]`
/// commands, and an uncommitted change of the user's own in the main worktree.
fn fixture(test: &str, after: &str) -> Fixture {
    let env = Env::new();
    let repo = env.repo("app");
    env.commit(
        &repo,
        ".git-agent.toml",
        &format!("[merge]\ntest = [{test:?}]\nafter = [{after:?}]\n"),
    );
    env.ok(&repo, &["approve"]);
    let slot = PathBuf::from(env.ok(&repo, &["add", "a"]).trim());
    env.commit(&slot, "a1.txt", "1\n");
    env.commit(&slot, "a2.txt", "2\n");
    env.commit(&repo, "m.txt", "m\n");
    std::fs::write(repo.join("README"), "my own change, not committed\n").unwrap();
    Fixture { env, repo, slot }
}

impl Fixture {
    fn state(&self) -> BTreeMap<String, String> {
        user_state(&self.env, &[&self.repo, &self.slot])
    }

    fn assert_unchanged(&self, before: &BTreeMap<String, String>, what: &str) {
        let d = diff(before, &self.state());
        assert!(d.is_empty(), "{what} left changes behind:\n{d}");
        assert!(
            !self
                .env
                .git(&self.slot, &["status"])
                .contains("rebase in progress"),
            "{what}: a rebase is left in progress"
        );
        harden::assert_consistent(&self.env, &[&self.repo]);
    }
}

#[test]
fn every_step_in_the_landing_sources_is_covered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/land");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for piece in text.split(".step(\"").skip(1) {
            found.push(piece.split('"').next().unwrap().to_string());
        }
    }
    assert!(found.len() >= STEPS.len(), "{found:?}");
    for step in found {
        assert!(
            STEPS.contains(&step.as_str()),
            "step '{step}' of src/land is not covered here"
        );
    }
}

#[test]
fn ctrl_c_at_each_step_changes_nothing() {
    for step in STEPS {
        let f = fixture("true", "true");
        let before = f.state();
        let done = Paused::start(&f.env, &f.repo, &["merge", "a"], step, &[]).signal("INT");
        assert_eq!(
            done.status.code(),
            Some(130),
            "step {step}: {}",
            done.stderr
        );
        assert!(
            done.stderr.contains("interrupted"),
            "step {step}: {}",
            done.stderr
        );
        assert!(done.stdout.is_empty(), "step {step}: {}", done.stdout);
        f.assert_unchanged(&before, &format!("SIGINT at merge step {step}"));
        // And the merge still works afterwards.
        let stderr = f.env.fails(&f.repo, &["merge", "a"], 0);
        assert!(
            stderr.contains("landed a on main"),
            "after step {step}: {stderr}"
        );
    }
}

#[test]
fn a_failure_at_each_step_changes_nothing() {
    for step in STEPS {
        let f = fixture("true", "true");
        let before = f.state();
        let out = f
            .env
            .cmd(&f.repo)
            .args(["merge", "a"])
            .env("GIT_AGENT_TEST_FAIL_AT", step)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "step {step}: {stderr}");
        assert!(
            stderr.contains(&format!("test failure injected at step '{step}'")),
            "{stderr}"
        );
        f.assert_unchanged(&before, &format!("a failure at merge step {step}"));
    }
}

#[test]
fn sigterm_and_sighup_change_nothing() {
    for (signal, step) in [("TERM", "land"), ("HUP", "after"), ("TERM", "test")] {
        let f = fixture("true", "true");
        let before = f.state();
        let done = Paused::start(&f.env, &f.repo, &["merge", "a"], step, &[]).signal(signal);
        assert_eq!(
            done.status.code(),
            Some(130),
            "SIG{signal} at {step}: {}",
            done.stderr
        );
        f.assert_unchanged(&before, &format!("SIG{signal} at merge step {step}"));
    }
}

#[test]
fn ctrl_c_while_the_test_command_runs_changes_nothing() {
    let f = fixture(WAIT, "true");
    let before = f.state();
    let done = Paused::start(&f.env, &f.repo, &["merge", "a"], "none", &[]).signal("INT");
    assert_eq!(done.status.code(), Some(130), "{}", done.stderr);
    assert!(
        done.stderr.contains("git-agent: test [1/1]"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("undone: put branch a back"),
        "{}",
        done.stderr
    );
    f.assert_unchanged(&before, "SIGINT while the test command ran");
}

#[test]
fn ctrl_c_while_an_after_command_runs_changes_nothing() {
    let f = fixture("true", WAIT);
    let before = f.state();
    let done = Paused::start(&f.env, &f.repo, &["merge", "a"], "none", &[]).signal("INT");
    assert_eq!(done.status.code(), Some(130), "{}", done.stderr);
    assert!(
        done.stderr.contains("undone: moved main back"),
        "{}",
        done.stderr
    );
    f.assert_unchanged(&before, "SIGINT while the after command ran");
}

#[test]
fn ctrl_c_while_git_rebases_changes_nothing() {
    // A pre-rebase hook in the slot's repository holds git rebase at its start.
    let f = fixture("true", "true");
    let hook = f.repo.join(".git/hooks/pre-rebase");
    std::fs::write(&hook, format!("#!/bin/sh\n{WAIT}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = f.state();
    let done = Paused::start(&f.env, &f.repo, &["merge", "a"], "none", &[]).signal("INT");
    assert_eq!(done.status.code(), Some(130), "{}", done.stderr);
    f.assert_unchanged(&before, "SIGINT while git rebase ran");
}

#[test]
fn stopped_while_the_slot_is_removed_the_landing_stands_and_rm_finishes() {
    for step in REMOVAL_STEPS {
        let f = fixture("true", "true");
        let done = Paused::start(&f.env, &f.repo, &["merge", "a"], step, &[]).signal("INT");
        assert_eq!(
            done.status.code(),
            Some(130),
            "step {step}: {}",
            done.stderr
        );
        assert!(
            done.stderr.contains("landed a on main"),
            "step {step}: {}",
            done.stderr
        );
        let log = f.env.git(&f.repo, &["log", "-1", "--format=%s", "main"]);
        assert_eq!(log.trim(), "a", "step {step}: the landing must stand");
        assert_eq!(
            std::fs::read_to_string(f.repo.join("README")).unwrap(),
            "my own change, not committed\n"
        );
        let stderr = f.env.fails(&f.repo, &["rm", "a"], 0);
        assert!(stderr.contains("removed slot a"), "step {step}: {stderr}");
        assert!(!f.slot.exists());
        assert!(
            !harden::branches(&f.env, &f.repo).contains("a"),
            "step {step}"
        );
        harden::assert_consistent(&f.env, &[&f.repo]);
    }
}

#[test]
fn two_merges_take_turns_and_the_second_rebases_onto_the_first() {
    let f = fixture("true", "true");
    let b = PathBuf::from(f.env.ok(&f.repo, &["add", "b"]).trim());
    f.env.commit(&b, "b.txt", "b\n");
    // a holds the repository's merge lock, stopped at its landing step.
    let a = Paused::start(&f.env, &f.repo, &["merge", "a"], "land", &[]);
    let log = f.env.root().join("b-merge.log");
    let mut second = f.env.cmd(&f.repo);
    second
        .args(["merge", "b"])
        .stderr(std::fs::File::create(&log).unwrap());
    let mut second = second.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("waiting for another `git agent merge`")
    {
        assert!(std::time::Instant::now() < deadline, "b never waited");
        assert!(
            second.try_wait().unwrap().is_none(),
            "b did not wait: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // a is stopped and undone; b then lands onto main as a left it.
    let done = a.signal("INT");
    assert_eq!(done.status.code(), Some(130), "{}", done.stderr);
    assert!(
        second.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(
        f.env
            .git(&f.repo, &["log", "-1", "--format=%s", "main"])
            .trim(),
        "change b.txt"
    );
    assert!(f.slot.is_dir(), "a stays, as it was");
    assert!(!b.exists());
    // Then a lands on top of b.
    f.env.ok(&f.repo, &["merge", "a"]);
    let log = f.env.git(&f.repo, &["log", "--format=%s", "-3", "main"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["a", "change b.txt", "change m.txt"]
    );
}

#[test]
fn killed_as_git_starts_its_rebase_the_slot_merges_again() {
    // A SIGKILL runs no undo. Killed as git's rebase starts (its pre-rebase hook), nothing of
    // the rebase was done and the next merge lands; a rebase git had got further with stays
    // in progress in the slot, and the next merge refuses, naming the two ways out (below).
    let f = fixture("true", "true");
    let hook = f.repo.join(".git/hooks/pre-rebase");
    std::fs::write(&hook, format!("#!/bin/sh\n{WAIT}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let done = Paused::start(&f.env, &f.repo, &["merge", "a"], "none", &[]).signal("KILL");
    assert_eq!(done.status.code(), None);
    std::fs::remove_file(&hook).unwrap();
    let stderr = f.env.fails(&f.repo, &["merge", "a"], 0);
    assert!(stderr.contains("landed a on main"), "{stderr}");
}

#[test]
fn a_rebase_in_progress_in_the_slot_is_refused() {
    let f = fixture("true", "true");
    f.env.commit(&f.repo, "a1.txt", "main's\n");
    let mut rebase = std::process::Command::new("git");
    f.env.isolate(&mut rebase);
    let out = rebase
        .current_dir(&f.slot)
        .args(["rebase", "main"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the rebase should stop at the conflict"
    );
    let before = f.state();
    let stderr = f.env.fails(&f.repo, &["merge", "a"], 3);
    assert!(
        stderr.contains("a rebase is in progress in slot a") && stderr.contains("rebase --abort"),
        "{stderr}"
    );
    assert!(diff(&before, &f.state()).is_empty());
}

#[test]
fn the_slot_is_locked_while_it_is_merged() {
    let f = fixture("true", "true");
    let paused = Paused::start(&f.env, &f.repo, &["merge", "a"], "test", &[]);
    let stderr = f.env.fails(&f.repo, &["rm", "a", "--force"], 4);
    assert!(
        stderr.contains("busy") && stderr.contains("merge"),
        "{stderr}"
    );
    let stderr = f.env.fails(&f.repo, &["merge", "a"], 4);
    assert!(stderr.contains("busy"), "{stderr}");
    let report = f.env.json(&f.repo, &["doctor", "--json"]);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["slot"] == "a"
                && x["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("being merged by")),
        "{report:#}"
    );
    let done = paused.signal("INT");
    assert_eq!(done.status.code(), Some(130), "{}", done.stderr);
    assert!(f.slot.is_dir());
}

#[test]
fn killed_after_the_landing_doctor_says_so_and_the_next_merge_finishes() {
    let f = fixture("true", "true");
    let done = Paused::start(&f.env, &f.repo, &["merge", "a"], "after", &[]).signal("KILL");
    assert_eq!(done.status.code(), None);
    // main has the landing; the slot is still there, its record saying where the merge got.
    assert_eq!(
        f.env
            .git(&f.repo, &["log", "-1", "--format=%s", "main"])
            .trim(),
        "a"
    );
    let out = f.env.run(&f.repo, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["slot"] == "a" && x["level"] == "warning")
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("was stopped at step land") && message.contains("may not have run"),
        "{message}"
    );
    assert_eq!(
        finding["fix"]
            .as_str()
            .unwrap()
            .split(' ')
            .take(4)
            .collect::<Vec<_>>(),
        ["git", "agent", "merge", "a"]
    );
    let stderr = f.env.fails(&f.repo, &["merge", "a"], 0);
    assert!(stderr.contains("was stopped at step land"), "{stderr}");
    assert!(stderr.contains("already integrated into main"), "{stderr}");
    assert!(!f.slot.exists());
    harden::assert_consistent(&f.env, &[&f.repo]);
}
