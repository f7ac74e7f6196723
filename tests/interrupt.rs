//! Interruption at every step. `add` stopped at any step by Ctrl-C (SIGINT to the process
//! group), SIGTERM or SIGHUP leaves the machine exactly as it was; an injected failure at any
//! step likewise; a SIGKILL at any step leaves a state `git agent prune` puts back exactly.
//! `rm` interrupted at any step is finished by a second `rm` (or, after a SIGKILL, by
//! `prune`), ending in the same state as an uninterrupted `rm`.
//!
//! The binary is stopped at a named step with the hidden test hooks of `txn.rs`, so no test
//! relies on timing.

mod harden;
#[path = "support/servers.rs"]
mod servers;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harden::{Paused, diff, snapshot_of_app};
use support::Env;

/// Steps of `add`, in order, for a repository with the default template.
const ADD_STEPS: &[&str] = &[
    "validate", "lease", "worktree", "exclude", "database", "copy", "envfile", "setup", "ready",
];
/// Steps of `add` reached only with data services configured (`[redis]` with `isolation =
/// "db"`), covered by the tests that start a real server.
const SERVICE_ADD_STEPS: &[&str] = &["redis"];
/// Steps of `rm`, in order.
const RM_STEPS: &[&str] = &["mark", "services", "worktree", "branch", "release"];

/// The steps of `add` the sources have (some are only being written), in order.
fn add_steps() -> Vec<&'static str> {
    let found: Vec<String> = source_steps().into_iter().map(|(_, step)| step).collect();
    ADD_STEPS
        .iter()
        .copied()
        .filter(|s| found.iter().any(|f| f == s))
        .collect()
}

fn source_steps() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    collect_steps(&src, &mut found);
    found
}

/// Every step named in the sources is covered here, so a new step cannot go untested.
#[test]
fn every_step_in_the_sources_is_covered() {
    let found = source_steps();
    assert!(
        found.len() >= 10,
        "too few steps found in the sources: {found:?}"
    );
    for (file, step) in found {
        // The landing's steps are covered by tests/merge_interrupt.rs.
        if file.contains("/src/land/") {
            continue;
        }
        let covered = if file.contains("/src/removal/") {
            RM_STEPS.contains(&step.as_str())
        } else {
            ADD_STEPS.contains(&step.as_str()) || SERVICE_ADD_STEPS.contains(&step.as_str())
        };
        assert!(
            covered,
            "step '{step}' in {file} is not covered by tests/interrupt.rs"
        );
    }
}

fn collect_steps(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_steps(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split(".step(\"").skip(1) {
                let name = piece.split('"').next().unwrap().to_string();
                found.push((path.display().to_string(), name));
            }
        }
    }
}

/// A temp machine with two repositories: `other`, which already has a slot whose lease must
/// survive everything, and `app`, where the slot under test is made. `app`'s main worktree has
/// an untracked `.env.local` with the user's own lines.
struct Fixture {
    env: Env,
    app: PathBuf,
    other: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let env = Env::new();
        let other = env.repo("other");
        env.ok(&other, &["add", "keep"]);
        let app = env.repo("app");
        std::fs::write(app.join(".env.local"), "# mine\nSECRET=do-not-lose\n").unwrap();
        Fixture { env, app, other }
    }

    /// Everything under the temp dir but lock files and git-agent's own empty per-repository
    /// directories (`.git/agent`, `.git/agent/slots`), which hold nothing once empty.
    fn snapshot(&self) -> BTreeMap<String, String> {
        snapshot_of_app(&self.env.root(), "pause-")
    }

    fn assert_unchanged(&self, before: &BTreeMap<String, String>, what: &str) {
        let after = self.snapshot();
        let d = diff(before, &after);
        assert!(d.is_empty(), "{what} left changes behind:\n{d}");
        harden::assert_consistent(&self.env, &[&self.app, &self.other]);
        assert_eq!(
            harden::leases(&self.env).len(),
            1,
            "the other repository's lease must survive"
        );
    }
}

fn add_args() -> Vec<&'static str> {
    vec!["add", "feature/x"]
}

#[test]
fn add_interrupted_at_each_step_leaves_nothing() {
    for step in &add_steps() {
        let f = Fixture::new();
        let before = f.snapshot();
        let paused = Paused::start(&f.env, &f.app, &add_args(), step, &[]);
        let done = paused.signal("INT");
        assert_eq!(
            done.status.code(),
            Some(130),
            "step {step}: expected exit 130\nstderr: {}",
            done.stderr
        );
        assert!(
            done.stderr.contains("interrupted"),
            "step {step}: {}",
            done.stderr
        );
        assert!(
            done.stdout.is_empty(),
            "step {step}: stdout must stay empty: {}",
            done.stdout
        );
        if ADD_STEPS.iter().position(|s| s == step) > ADD_STEPS.iter().position(|s| *s == "lease") {
            assert!(
                done.stderr.contains("undone: released the ports"),
                "step {step}: {}",
                done.stderr
            );
        }
        f.assert_unchanged(&before, &format!("SIGINT at add step {step}"));
    }
}

#[test]
fn add_terminated_or_hung_up_leaves_nothing() {
    for (signal, step) in [("TERM", "envfile"), ("HUP", "worktree"), ("TERM", "ready")] {
        let f = Fixture::new();
        let before = f.snapshot();
        let done = Paused::start(&f.env, &f.app, &add_args(), step, &[]).signal(signal);
        assert_eq!(
            done.status.code(),
            Some(130),
            "SIG{signal} at {step}: {}",
            done.stderr
        );
        f.assert_unchanged(&before, &format!("SIG{signal} at add step {step}"));
    }
}

#[test]
fn add_failing_at_each_step_leaves_nothing() {
    for step in &add_steps() {
        let f = Fixture::new();
        let before = f.snapshot();
        let out = f
            .env
            .cmd(&f.app)
            .args(add_args())
            .env("GIT_AGENT_TEST_FAIL_AT", step)
            .output()
            .unwrap();
        let stderr = support::text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "step {step}: {stderr}");
        assert!(
            stderr.contains(&format!("test failure injected at step '{step}'")),
            "step {step}: {stderr}"
        );
        assert!(out.stdout.is_empty());
        f.assert_unchanged(&before, &format!("a failure at add step {step}"));
    }
}

#[test]
fn add_killed_at_each_step_is_rolled_back_by_prune() {
    for step in &add_steps() {
        let f = Fixture::new();
        let before = f.snapshot();
        let done = Paused::start(&f.env, &f.app, &add_args(), step, &[]).signal("KILL");
        assert_eq!(
            done.status.code(),
            None,
            "step {step}: the process should have died of SIGKILL"
        );
        let records = harden::records(&f.app);
        let leased =
            ADD_STEPS.iter().position(|s| s == step) > ADD_STEPS.iter().position(|s| *s == "lease");
        if leased {
            let record = records
                .get("feature-x")
                .unwrap_or_else(|| panic!("step {step}: no record left: {records:?}"));
            assert_eq!(record["state"].as_str(), Some("creating"), "step {step}");
            // Other commands see the half-made slot for what it is.
            let ls = f.env.ok(&f.app, &["ls", "--no-status"]);
            assert!(ls.contains("feature-x (creating)"), "step {step}: {ls}");
        }
        let stderr = f.env.fails(&f.app, &["prune", "--dry-run"], 0);
        if leased {
            assert!(
                stderr.contains("would forget slot feature-x"),
                "step {step}: {stderr}"
            );
        }
        let stderr = f.env.fails(&f.app, &["prune"], 0);
        if leased {
            assert!(
                stderr.contains("forgetting slot feature-x: its `git agent add` was interrupted"),
                "step {step}: {stderr}"
            );
        }
        f.assert_unchanged(
            &before,
            &format!("SIGKILL at add step {step} followed by prune"),
        );
        // A second prune has nothing left to do.
        let again = f.env.fails(&f.app, &["prune"], 0);
        assert!(again.contains("nothing to prune"), "step {step}: {again}");
    }
}

/// A slot already exists in `app` (so the shared things, like `info/exclude` lines and the
/// worktrees directory, are there before and after), then `victim` is added and removed.
fn rm_fixture() -> (Fixture, BTreeMap<String, String>) {
    let f = Fixture::new();
    f.env.ok(&f.app, &["add", "base-slot"]);
    let before = f.snapshot();
    f.env.ok(&f.app, &["add", "victim"]);
    (f, before)
}

#[test]
fn rm_interrupted_at_each_step_is_finished_by_a_second_rm() {
    for step in RM_STEPS {
        let (f, before) = rm_fixture();
        let done = Paused::start(&f.env, &f.app, &["rm", "victim"], step, &[]).signal("INT");
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
        let stderr = f.env.fails(&f.app, &["rm", "victim"], 0);
        assert!(
            stderr.contains("removed slot victim"),
            "step {step}: {stderr}"
        );
        f.assert_unchanged_with(&before, &format!("SIGINT at rm step {step}, then rm"), 2);
    }
}

#[test]
fn rm_killed_at_each_step_is_finished_by_prune_or_rm() {
    for (i, step) in RM_STEPS.iter().enumerate() {
        let (f, before) = rm_fixture();
        let done = Paused::start(&f.env, &f.app, &["rm", "victim"], step, &[]).signal("KILL");
        assert_eq!(done.status.code(), None);
        // Alternate the two ways out: `prune`, or `rm` again.
        if i % 2 == 0 {
            let stderr = f.env.fails(&f.app, &["prune"], 0);
            if *step != "mark" {
                assert!(
                    stderr.contains("its `git agent rm` was interrupted"),
                    "step {step}: {stderr}"
                );
            }
            if *step == "mark" {
                // Killed before it changed anything: the slot is still there, whole.
                f.env.ok(&f.app, &["rm", "victim"]);
            }
        } else {
            f.env.ok(&f.app, &["rm", "victim"]);
        }
        f.assert_unchanged_with(
            &before,
            &format!("SIGKILL at rm step {step}, then cleanup"),
            2,
        );
    }
}

impl Fixture {
    fn assert_unchanged_with(&self, before: &BTreeMap<String, String>, what: &str, leases: usize) {
        let after = self.snapshot();
        let d = diff(before, &after);
        assert!(d.is_empty(), "{what} left changes behind:\n{d}");
        harden::assert_consistent(&self.env, &[&self.app, &self.other]);
        assert_eq!(
            harden::leases(&self.env).len(),
            leases,
            "{what}: wrong number of leases"
        );
    }
}

/// The same with data services on real servers the test starts: a Postgres database cloned
/// from a template and a numbered Redis database claimed per slot. At every step of `add`
/// (the `redis` step included), Ctrl-C and SIGKILL + `prune` leave no database and no Redis
/// key behind, and the user's own databases and keys are never touched; `rm` interrupted at
/// every step and run again drops them.
#[test]
fn services_are_never_left_behind_at_any_step() {
    let pg = servers::Postgres::start();
    pg.psql("postgres", "create database myapp_dev");
    pg.psql(
        "myapp_dev",
        "create table items (id int); insert into items values (1), (2)",
    );
    pg.psql("postgres", "create database users_own");
    let redis = servers::Redis::start();
    redis.fill(0, "user:", 50);
    let template = format!(
        "[database]\nengine = \"postgres\"\ntemplate = \"myapp_dev\"\n\n[redis]\nurl = \"{}\"\nisolation = \"db\"\n",
        redis.url(0)
    );
    let pg_env = [
        ("PGHOST", "127.0.0.1".to_string()),
        ("PGPORT", pg.port.to_string()),
        ("PGUSER", "postgres".to_string()),
    ];
    let extra: Vec<(&str, &str)> = pg_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let databases = pg.databases();
    let untouched = |what: &str| {
        servers::assert_untouched(&pg, &redis, &databases, what);
    };
    let with_services = |f: &Fixture| {
        std::fs::write(f.app.join(".git-agent.toml"), &template).unwrap();
        f.env.git(&f.app, &["add", ".git-agent.toml"]);
        f.env.git(&f.app, &["commit", "-q", "-m", "template"]);
    };
    let run = |f: &Fixture, args: &[&str]| {
        let mut cmd = f.env.cmd(&f.app);
        cmd.args(args);
        for (k, v) in &extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            support::text(&out.stderr)
        );
        support::text(&out.stderr)
    };
    let steps: Vec<&str> = add_steps()
        .into_iter()
        .chain(SERVICE_ADD_STEPS.iter().copied())
        .collect();
    for step in &steps {
        for signal in ["INT", "KILL"] {
            let f = Fixture::new();
            with_services(&f);
            let before = f.snapshot();
            let done = Paused::start(&f.env, &f.app, &add_args(), step, &extra).signal(signal);
            if signal == "INT" {
                assert_eq!(done.status.code(), Some(130), "{step}: {}", done.stderr);
            } else {
                run(&f, &["prune"]);
            }
            untouched(&format!("SIG{signal} at add step {step}"));
            f.assert_unchanged(
                &before,
                &format!("SIG{signal} at add step {step} (with services)"),
            );
        }
    }
    // The slot is really made with both services when nothing stops it.
    let f = Fixture::new();
    with_services(&f);
    run(&f, &["add", "base-slot"]);
    let before = f.snapshot();
    let dbs_before = pg.databases();
    run(&f, &["add", "victim"]);
    assert_eq!(
        pg.databases().len(),
        dbs_before.len() + 1,
        "add made no database"
    );
    let victim = f.env.json(&f.app, &["env", "--json", "victim"]);
    let url = victim["env"]["REDIS_URL"].as_str().unwrap().to_string();
    let db: u32 = url.rsplit('/').next().unwrap().parse().unwrap();
    redis.cli(&["-n", &db.to_string(), "SET", "victim-key", "1"]);
    for step in RM_STEPS {
        let done = Paused::start(&f.env, &f.app, &["rm", "victim"], step, &extra).signal("INT");
        assert_eq!(
            done.status.code(),
            Some(130),
            "rm step {step}: {}",
            done.stderr
        );
        run(&f, &["rm", "victim"]);
        assert_eq!(
            pg.databases(),
            dbs_before,
            "rm step {step}: the slot's database is left"
        );
        assert_eq!(
            redis.dbsize(db),
            0,
            "rm step {step}: the slot's Redis database still holds keys"
        );
        assert_eq!(redis.dbsize(0), 50);
        f.assert_unchanged_with(
            &before,
            &format!("SIGINT at rm step {step}, then rm (with services)"),
            2,
        );
        run(&f, &["add", "victim"]);
        redis.cli(&["-n", &db.to_string(), "SET", "victim-key", "1"]);
    }
}
