//! Signals while a child runs. A terminal's Ctrl-C goes to the whole foreground process
//! group: git-agent and whatever `git`, `psql`, `cp` or setup command is running at that
//! moment. For each long child of `add` and `rm`, each of SIGINT, SIGTERM and SIGKILL (then
//! `prune`) is sent to the group while that child runs, and the machine must end exactly as
//! before, byte for byte (the snapshot of `tests/harden`), databases and Redis included:
//!
//! - `add`: a post-checkout hook that sleeps, a Postgres clone held for seconds (a session on
//!   the template makes the server wait for it), a `[setup] copy` of 20,000 files, a setup
//!   command that sleeps;
//! - `rm`: `git worktree remove` of a tree of 20,000 files, with and without a process
//!   writing into the slot meanwhile.
//!
//! An interrupted command exits 130 and says so, never "`git ...` failed". The child is
//! found running by its process (in `/proc`, in the group), or by a file it writes as it
//! starts: no test depends on timing.

mod harden;
#[path = "support/servers.rs"]
mod servers;
mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harden::{diff, signal_group, snapshot_of_app};
use support::{Env, text};

const SIGNALS: &[&str] = &["INT", "TERM", "KILL"];

/// A temp machine with a repository `other` holding a slot whose lease must survive, and
/// `app`, where the slot under test is made, with a `.env.local` of the user's own.
struct Fixture {
    env: Env,
    app: PathBuf,
    other: PathBuf,
    /// Variables for every git-agent run (the Postgres server's).
    vars: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Fixture {
        let env = Env::new();
        let other = env.repo("other");
        env.ok(&other, &["add", "keep"]);
        let app = env.repo("app");
        std::fs::write(app.join(".env.local"), "# mine\nSECRET=do-not-lose\n").unwrap();
        Fixture {
            env,
            app,
            other,
            vars: vec![],
        }
    }

    fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot_of_app(&self.env.root(), "mark-")
    }

    fn mark(&self, name: &str) -> PathBuf {
        self.env.root().join(format!("mark-{name}"))
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.cmd(&self.app);
        cmd.args(args);
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} failed:\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// `git-agent ARGS` in its own process group, as a terminal's foreground job.
    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    /// `doctor` finds nothing wrong with git-agent's state.
    fn doctor_clean(&self, what: &str) {
        let out = self.cmd(&["doctor", "--json"]).output().unwrap();
        let errors = harden::doctor_errors(&out);
        assert!(errors.is_empty(), "{what}: doctor: {errors:#?}");
    }

    fn commit_template(&self, text: &str) {
        self.env.commit(&self.app, ".git-agent.toml", text);
    }

    fn unchanged(&self, before: &BTreeMap<String, String>, what: &str, leases: usize) {
        let d = diff(before, &self.snapshot());
        assert!(d.is_empty(), "{what} left changes behind:\n{d}");
        harden::assert_consistent(&self.env, &[&self.app, &self.other]);
        assert_eq!(harden::leases(&self.env).len(), leases, "{what}");
    }
}

/// Waits until a process of group `pgid` other than its leader has a command line for
/// which `wanted` is true (a child git-agent started, or a grandchild).
fn wait_for_child(pgid: u32, what: &str, wanted: &dyn Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == pgid {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if fields.get(2).and_then(|g| g.parse::<u32>().ok()) != Some(pgid) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if wanted(&cmdline) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{what} never ran");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `count` small files in `dir`, in 100 subdirectories.
fn many_files(dir: &Path, count: usize) {
    for i in 0..count {
        let sub = dir.join(format!("d{}", i % 100));
        if i < 100 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i}.js")), "module.exports = 1;\n").unwrap();
    }
}

/// What an interrupted command must have said and how it must have ended.
fn check_interrupted(signal: &str, out: &std::process::Output, what: &str) {
    let stderr = text(&out.stderr);
    if signal == "KILL" {
        assert_eq!(out.status.code(), None, "{what}: {stderr}");
        return;
    }
    assert_eq!(
        out.status.code(),
        Some(130),
        "{what}: an interrupted command exits 130\n{stderr}"
    );
    assert!(stderr.contains("interrupted"), "{what}: {stderr}");
    assert!(
        !stderr.contains("failed"),
        "{what}: the interruption is not a child's failure:\n{stderr}"
    );
    assert!(out.stdout.is_empty(), "{what}: {}", text(&out.stdout));
}

/// `add` stopped by each signal while `wait` says its child runs; the machine ends as it was
/// (after `prune` for SIGKILL). `prepare` configures the fixture; `check` looks at the
/// services after each run.
fn add_matrix(
    name: &str,
    prepare: &dyn Fn(&mut Fixture),
    args: &[&str],
    wait: &dyn Fn(&Fixture, u32),
    check: &dyn Fn(&str),
) {
    for signal in SIGNALS {
        let mut f = Fixture::new();
        prepare(&mut f);
        let before = f.snapshot();
        let child = f.spawn(args);
        let pgid = child.id();
        wait(&f, pgid);
        signal_group(pgid, signal);
        let out = child.wait_with_output().unwrap();
        let what = format!("SIG{signal} during {name}");
        check_interrupted(signal, &out, &what);
        if *signal == "KILL" {
            let err = f.ok(&["prune"]);
            assert!(
                err.contains("forgetting slot feature-x: its `git agent add` was interrupted"),
                "{what}: {err}"
            );
        }
        check(&what);
        f.unchanged(&before, &what, 1);
        let again = f.ok(&["prune"]);
        assert!(again.contains("nothing to prune"), "{what}: {again}");
        f.doctor_clean(&what);
    }
}

fn nothing(_: &str) {}

#[test]
fn add_stopped_during_a_slow_post_checkout_hook() {
    let prepare = |f: &mut Fixture| slow_hook(f);
    let wait = |f: &Fixture, _pgid: u32| wait_for_file(&f.mark("hook"));
    add_matrix(
        "the post-checkout hook",
        &prepare,
        &["add", "feature/x"],
        &wait,
        &nothing,
    );
}

#[test]
fn add_stopped_during_a_big_setup_copy() {
    let prepare = |f: &mut Fixture| {
        f.env.commit(&f.app, ".gitignore", "node_modules/\n");
        many_files(&f.app.join("node_modules"), 20_000);
        f.commit_template("[setup]\ncopy = [\"node_modules\"]\n");
    };
    let wait = |_: &Fixture, pgid: u32| {
        wait_for_child(pgid, "cp", &|c| {
            c.starts_with("cp ") && c.contains("node_modules")
        })
    };
    add_matrix(
        "a [setup] copy of 20000 files",
        &prepare,
        &["add", "feature/x"],
        &wait,
        &nothing,
    );
}

#[test]
fn add_stopped_during_a_setup_command() {
    let prepare = |f: &mut Fixture| {
        let mark = f.mark("setup");
        f.commit_template(&format!(
            "[setup]\nrun = [\"mkdir -p build && echo half > build/out && : > '{}' && sleep 60\"]\n",
            mark.display()
        ));
    };
    let wait = |f: &Fixture, _pgid: u32| wait_for_file(&f.mark("setup"));
    add_matrix(
        "a setup command",
        &prepare,
        &["add", "--yes", "feature/x"],
        &wait,
        &nothing,
    );
}

#[test]
fn add_stopped_during_a_postgres_clone() {
    let pg = servers::Postgres::start();
    pg.psql("postgres", "create database myapp_dev");
    pg.psql(
        "myapp_dev",
        "create table items (id int); insert into items select generate_series(1, 10000)",
    );
    let redis = servers::Redis::start();
    redis.fill(0, "user:", 50);
    let databases = pg.databases();
    let template = format!(
        "[database]\nengine = \"postgres\"\ntemplate = \"myapp_dev\"\n\n[redis]\nurl = \"{}\"\nisolation = \"db\"\n",
        redis.url(0)
    );
    let port = pg.port.to_string();
    let holder = std::cell::RefCell::new(None::<Child>);
    let prepare = |f: &mut Fixture| {
        f.vars = vec![
            ("PGHOST".into(), "127.0.0.1".into()),
            ("PGPORT".into(), port.clone()),
            ("PGUSER".into(), "postgres".into()),
        ];
        f.commit_template(&template);
        // A session on the template makes the server wait (up to 5 s) before it copies: the
        // clone is under way, psql waiting for it, while the signal comes.
        *holder.borrow_mut() = Some(pg.hold_session("myapp_dev"));
    };
    let wait = |_: &Fixture, _pgid: u32| {
        let sql = "select count(*) from pg_stat_activity where query like 'CREATE DATABASE%' and application_name = 'git-agent'";
        servers::wait_for(|| pg.psql("postgres", sql) != "0", "the clone");
    };
    let check = |what: &str| {
        // Let the held clone go on: on a server whose client died, it would finish now.
        pg.end_sessions("myapp_dev");
        if let Some(mut child) = holder.borrow_mut().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let sql = "select count(*) from pg_stat_activity where query like 'CREATE DATABASE%'";
        servers::wait_for(|| pg.psql("postgres", sql) == "0", "the clone to end");
        servers::assert_untouched(&pg, &redis, &databases, what);
    };
    add_matrix(
        "a Postgres clone",
        &prepare,
        &["add", "feature/x"],
        &wait,
        &check,
    );
}

/// A slot `victim` with 20,000 ignored files, made after `base-slot` (so shared things like
/// the worktrees directory are there before and after).
fn rm_fixture() -> (Fixture, BTreeMap<String, String>, PathBuf) {
    let f = Fixture::new();
    f.env.commit(&f.app, ".gitignore", "cache/\n");
    f.ok(&["add", "base-slot"]);
    let before = f.snapshot();
    f.ok(&["add", "victim"]);
    let slot = f.app.parent().unwrap().join("app-worktrees/victim");
    many_files(&slot.join("cache"), 20_000);
    (f, before, slot)
}

/// A process (working in another directory) that keeps writing files into `dir`.
fn writer(dir: &Path) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    Command::new("sh")
        .arg("-c")
        .arg("i=0; while :; do : > \"$1/w$i\" 2>/dev/null; i=$((i+1)); done")
        .arg("sh")
        .arg(dir)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn rm_matrix(with_writer: bool) {
    for signal in SIGNALS {
        let (f, before, slot) = rm_fixture();
        let mut writing = with_writer.then(|| writer(&slot.join("cache/live")));
        let child = f.spawn(&["rm", "victim"]);
        let pgid = child.id();
        wait_for_child(pgid, "git worktree remove", &|c| {
            c.starts_with("git ") && c.contains("worktree remove")
        });
        signal_group(pgid, signal);
        let out = child.wait_with_output().unwrap();
        let what = format!(
            "SIG{signal} during git worktree remove{}",
            if with_writer { " with a writer" } else { "" }
        );
        check_interrupted(signal, &out, &what);
        // The record says what is left, for ls and doctor.
        let ls = f.env.ok(&f.app, &["ls", "--no-status"]);
        assert!(ls.contains("victim (removing"), "{what}: {ls}");
        if let Some(mut w) = writing.take() {
            w.kill().unwrap();
            w.wait().unwrap();
        }
        let err = if *signal == "KILL" {
            f.ok(&["prune"])
        } else {
            f.ok(&["rm", "victim"])
        };
        assert!(
            err.contains("its `git agent rm` was interrupted")
                || err.contains("removed slot victim"),
            "{what}: {err}"
        );
        f.unchanged(&before, &what, 2);
        f.doctor_clean(&what);
    }
}

#[test]
fn rm_stopped_during_git_worktree_remove_of_a_big_tree() {
    rm_matrix(false);
}

#[test]
fn rm_stopped_while_a_process_writes_into_the_slot() {
    rm_matrix(true);
}

/// With no signal at all: a process writing into the slot makes `git worktree remove` fail
/// ("Directory not empty") after it deleted the `.git` file. `rm` finishes the job, or says
/// what stopped it and keeps a record that `rm` (or `prune`) finishes once the writer stops.
#[test]
fn rm_while_a_process_writes_into_the_slot_is_finished() {
    let (f, before, slot) = rm_fixture();
    let mut w = writer(&slot.join("cache/live"));
    let out = f.cmd(&["rm", "victim"]).output().unwrap();
    let stderr = text(&out.stderr);
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("is a process still writing into it"),
            "{stderr}"
        );
        let ls = f.env.ok(&f.app, &["ls", "--no-status"]);
        assert!(
            ls.contains("victim (removing, broken: git agent rm victim)"),
            "{ls}"
        );
    }
    w.kill().unwrap();
    w.wait().unwrap();
    if !out.status.success() {
        let err = f.ok(&["rm", "victim"]);
        assert!(err.contains("removed slot victim"), "{err}");
    } else if slot.exists() {
        panic!("rm succeeded but left {}", slot.display());
    }
    f.unchanged(&before, "rm with a writer", 2);
}

/// A post-checkout hook that says it started (the file `mark`) and sleeps.
fn slow_hook(f: &Fixture) {
    let hook = f.app.join(".git/hooks/post-checkout");
    std::fs::write(
        &hook,
        format!("#!/bin/sh\n: > '{}'\nsleep 60\n", f.mark("hook").display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

fn signal_rounds() -> usize {
    std::env::var("GIT_AGENT_SIGNAL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

/// Ctrl-C to the group while git runs a hook, over and over: git (and the hook) die of the
/// signal, often before git-agent's own handler has run, and every time git-agent exits 130
/// and says it was interrupted, never that git failed.
#[test]
fn ctrl_c_while_git_runs_exits_130_every_time() {
    let f = Fixture::new();
    slow_hook(&f);
    let before = f.snapshot();
    for round in 0..signal_rounds() {
        let _ = std::fs::remove_file(f.mark("hook"));
        let child = f.spawn(&["add", "feature/x"]);
        wait_for_file(&f.mark("hook"));
        signal_group(child.id(), "INT");
        let out = child.wait_with_output().unwrap();
        check_interrupted("INT", &out, &format!("round {round}"));
        f.unchanged(&before, &format!("round {round}"), 1);
    }
}

/// Through `git agent`, git's own wrapper is in the group too. git 2.47's wrapper either
/// dies of the signal (a shell says 130 or 143) or reaps git-agent in its signal handler,
/// fails to wait for it and exits 128 ("waitpid for git-agent failed"); git-agent itself has
/// undone everything and said so. README and the man pages say this.
#[test]
fn ctrl_c_through_git_agent_exits_as_the_readme_says() {
    for signal in ["INT", "TERM"] {
        let f = Fixture::new();
        slow_hook(&f);
        let before = f.snapshot();
        let mut cmd = Command::new("git");
        f.env.isolate(&mut cmd);
        let child = cmd
            .current_dir(&f.app)
            .args(["agent", "add", "feature/x"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        wait_for_file(&f.mark("hook"));
        signal_group(child.id(), signal);
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        // git's wrapper either dies of the signal itself (130 in a shell) or, having reaped
        // git-agent in its handler, fails to wait for it and exits 128.
        let code = out.status.code();
        let died = std::os::unix::process::ExitStatusExt::signal(&out.status);
        assert!(
            code == Some(128) || died.is_some(),
            "SIG{signal} through `git agent`: README says 128 or death by the signal, got {:?}\n{stderr}",
            out.status
        );
        assert!(stderr.contains("git-agent: interrupted"), "{stderr}");
        f.unchanged(&before, &format!("SIG{signal} through git agent"), 1);
    }
}
