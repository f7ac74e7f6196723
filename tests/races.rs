//! Commands racing each other on one slot, and liveness told by the slot's lock: `rm` of a
//! slot whose `add` is still running refuses (busy, exit 4) and changes nothing; `prune`
//! leaves a running `add` alone, also when the `add` finishes between prune's reading the
//! records and acting on them; a killed command is seen as dead even while its zombie is
//! unreaped or its pid belongs to another process.
//!
//! Processes are held at exact points with the pause hooks of `txn.rs` (and let go with the
//! resume file), so no test depends on timing.

mod harden;
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use harden::{Paused, diff, snapshot_of_app};
use support::Env;

/// A repository `app` where the slots under test are made, and `other`, whose slot (and
/// the machine-wide state it brings) is there before and after.
struct Case {
    env: Env,
    repo: PathBuf,
    other: PathBuf,
}

fn case() -> Case {
    let env = Env::new();
    let other = env.repo("other");
    env.ok(&other, &["add", "keep"]);
    let repo = env.repo("app");
    Case { env, repo, other }
}

impl Case {
    fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot_of_app(&self.env.root(), "pause-")
    }

    fn unchanged(&self, before: &BTreeMap<String, String>, what: &str) {
        let d = diff(before, &self.snapshot());
        assert!(d.is_empty(), "{what} changed things:\n{d}");
    }
}

/// The steps of `add` after the slot's name (and its lock) is taken.
const HELD_STEPS: &[&str] = &["worktree", "exclude", "envfile", "ready"];

#[test]
fn rm_of_a_slot_whose_add_is_running_refuses_and_the_add_finishes() {
    for step in HELD_STEPS {
        let c = case();
        let add = Paused::start(&c.env, &c.repo, &["add", "feature/x"], step, &[]);
        let before = c.snapshot();
        for args in [
            &["rm", "feature-x"][..],
            &["rm", "--force", "feature-x"],
            &["rm", "feature/x"],
        ] {
            let err = c.env.fails(&c.repo, args, 4);
            assert!(
                err.contains("slot feature-x is busy") && err.contains("`git agent add"),
                "step {step}, {args:?}: {err}"
            );
        }
        // Changing its task note waits for no one either: the add would save over it.
        let err = c
            .env
            .fails(&c.repo, &["task", "feature-x", "--set", "later"], 4);
        assert!(err.contains("slot feature-x is busy"), "step {step}: {err}");
        // prune and doctor see it as being made, not as stopped.
        let err = c.env.fails(&c.repo, &["prune"], 0);
        assert!(
            err.contains("skipped slot feature-x") && !err.contains("forgetting"),
            "step {step}: {err}"
        );
        let doctor = c.env.json(&c.repo, &["doctor", "--json"]);
        let text = doctor.to_string();
        assert!(text.contains("being created by"), "step {step}: {doctor:#}");
        c.unchanged(
            &before,
            &format!("rm, prune and doctor during add step {step}"),
        );
        add.resume();
        let done = add.wait();
        assert!(
            done.status.success(),
            "step {step}: the add must finish: {}",
            done.stderr
        );
        assert!(
            done.stderr.contains("slot feature-x ready"),
            "{}",
            done.stderr
        );
        harden::assert_consistent(&c.env, &[&c.repo, &c.other]);
        assert_eq!(harden::leases(&c.env).len(), 2);
        // Now that it is done, rm works, and the next add gets the same ports again.
        c.env.ok(&c.repo, &["rm", "feature-x"]);
        harden::assert_consistent(&c.env, &[&c.repo, &c.other]);
        assert_eq!(harden::leases(&c.env).len(), 1);
    }
}

#[test]
fn prune_racing_a_finishing_add_leaves_it_ready() {
    let c = case();
    let add = Paused::start(&c.env, &c.repo, &["add", "feature/x"], "ready", &[]);
    // prune has read the records (the slot is `creating`) and stops before acting on them.
    let prune = Paused::start(&c.env, &c.repo, &["prune"], "prune-listed", &[]);
    add.resume();
    let done = add.wait();
    assert!(done.status.success(), "{}", done.stderr);
    let path = done.stdout.trim().to_string();
    prune.resume();
    let pruned = prune.wait();
    assert!(pruned.status.success(), "{}", pruned.stderr);
    assert!(
        !pruned.stderr.contains("forgetting"),
        "prune rolled back a slot add reported ready: {}",
        pruned.stderr
    );
    assert!(std::path::Path::new(&path).join(".env.local").is_file());
    harden::assert_consistent(&c.env, &[&c.repo, &c.other]);
    assert_eq!(harden::leases(&c.env).len(), 2);
}

/// The state of a process from `/proc/PID/stat` (`Z` for a zombie), if it exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

#[test]
fn a_killed_add_is_dead_though_its_zombie_is_unreaped() {
    let c = case();
    let before = c.snapshot();
    let add = Paused::start(&c.env, &c.repo, &["add", "feature/x"], "envfile", &[]);
    add.send("KILL");
    // Not reaped: the process stays a zombie, /proc/PID exists, as where PID 1 reaps late.
    let pid = add.pid;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while proc_state(pid) != Some('Z') {
        assert!(std::time::Instant::now() < deadline, "no zombie");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let doctor = c.env.run(&c.repo, &["doctor"]);
    let said = support::text(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(1), "{said}");
    assert!(said.contains("stuck in `creating`"), "{said}");
    let err = c.env.fails(&c.repo, &["prune"], 0);
    assert!(
        err.contains("forgetting slot feature-x: its `git agent add` was interrupted"),
        "{err}"
    );
    assert_eq!(proc_state(pid), Some('Z'), "the zombie must still be there");
    c.unchanged(&before, "SIGKILL at envfile, zombie unreaped, then prune");
    add.wait();
}

#[test]
fn a_killed_adds_pid_reused_by_another_process_does_not_keep_it_alive() {
    let c = case();
    let before = c.snapshot();
    let done = Paused::start(&c.env, &c.repo, &["add", "feature/x"], "envfile", &[]).signal("KILL");
    assert_eq!(done.status.code(), None);
    // Another, live process now has the pid the record names.
    let mut other = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let record = c.repo.join(".git/agent/slots/feature-x.toml");
    let text = std::fs::read_to_string(&record).unwrap();
    let replaced: String = text
        .lines()
        .map(|l| {
            if l.starts_with("pid = ") {
                format!("pid = {}", other.id())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        replaced.contains(&format!("pid = {}", other.id())),
        "{text}"
    );
    std::fs::write(&record, replaced + "\n").unwrap();
    let err = c.env.fails(&c.repo, &["prune"], 0);
    assert!(err.contains("forgetting slot feature-x"), "{err}");
    c.unchanged(&before, "SIGKILL at envfile, pid reused, then prune");
    other.kill().unwrap();
    other.wait().unwrap();
}
