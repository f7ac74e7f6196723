//! `git agent merge`: landing a slot's branch on its base. Each strategy lands what it says;
//! tests run in the slot with the slot's own environment; every refusal and failure (a dirty
//! slot, a conflict, a failing test, the main worktree's own changes in the way) changes
//! nothing at all, checked against a snapshot of what the user sees; `after` runs in the
//! base's worktree with the main worktree's environment; then the slot goes as `rm` would.

mod harden;
#[path = "support/servers.rs"]
mod servers;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harden::{diff, user_state};
use support::{Env, text};

struct Case {
    env: Env,
    repo: PathBuf,
}

/// A repository whose template has `[merge]` commands (approved), plus `out/` for what the
/// commands record.
fn case(merge: &str) -> Case {
    let env = Env::new();
    let repo = env.repo("app");
    std::fs::create_dir_all(env.root().join("out")).unwrap();
    env.commit(&repo, ".gitignore", ".env.local\n");
    if !merge.is_empty() {
        env.commit(&repo, ".git-agent.toml", &format!("[merge]\n{merge}"));
        env.ok(&repo, &["approve"]);
    }
    Case { env, repo }
}

impl Case {
    fn add(&self, name: &str) -> PathBuf {
        PathBuf::from(self.env.ok(&self.repo, &["add", name]).trim())
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        self.env.git(dir, args)
    }

    fn commit(&self, dir: &Path, file: &str, content: &str, subject: &str) {
        std::fs::write(dir.join(file), content).unwrap();
        self.git(dir, &["add", "--", file]);
        self.git(dir, &["commit", "-q", "-m", subject]);
    }

    fn out(&self, name: &str) -> PathBuf {
        self.env.root().join("out").join(name)
    }

    fn merge(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        let mut cmd = self.env.cmd(dir);
        cmd.arg("merge")
            .args(args)
            .env("OUT", self.env.root().join("out"));
        cmd.output().unwrap()
    }

    fn merge_ok(&self, args: &[&str]) -> String {
        let out = self.merge(&self.repo, args);
        assert!(
            out.status.success(),
            "merge {args:?} failed ({:?}):\n{}",
            out.status,
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// `merge ARGS` fails with `code`, and nothing the user sees has changed.
    fn merge_changes_nothing(&self, args: &[&str], code: i32, worktrees: &[&Path]) -> String {
        let before = user_state(&self.env, worktrees);
        let out = self.merge(&self.repo, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "merge {args:?}:\n{stderr}");
        assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
        let d = diff(&before, &user_state(&self.env, worktrees));
        assert!(
            d.is_empty(),
            "merge {args:?} failed but changed:\n{d}\n{stderr}"
        );
        stderr
    }

    fn log(&self, rev: &str) -> Vec<String> {
        self.git(&self.repo, &["log", "--format=%s", rev])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn slots(&self) -> Vec<String> {
        let all = self.env.json(&self.repo, &["ls", "--json"]);
        all.as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "slot")
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    }
}

#[test]
fn squash_runs_the_tests_in_the_slot_and_lands_one_commit() {
    let c = case(
        "test = [\"pwd > \\\"$OUT/test-dir\\\"; printf %s \\\"$DATABASE_URL $GIT_AGENT_SLOT\\\" > \\\"$OUT/test-env\\\"\"]\n",
    );
    let slot = c.add("feature/auth");
    c.env.ok(
        &c.repo,
        &["task", "feature-auth", "--set", "Log in with a magic link"],
    );
    c.commit(&slot, "auth.txt", "auth\n", "add auth");
    c.commit(&slot, "login.txt", "login\n", "add login");
    c.commit(&c.repo, "other.txt", "o\n", "meanwhile on main");
    let stderr = c.merge_ok(&["feature-auth"]);
    assert!(
        stderr.contains("landed feature/auth on main as"),
        "{stderr}"
    );
    assert!(stderr.contains("removed slot feature-auth"), "{stderr}");
    // The test ran in the slot, rebased onto main, with the slot's own variables.
    assert_eq!(
        std::fs::read_to_string(c.out("test-dir")).unwrap().trim(),
        slot.display().to_string()
    );
    let env = std::fs::read_to_string(c.out("test-env")).unwrap();
    assert!(
        env.contains(&format!("{}/.git-agent/db.sqlite3", slot.display()))
            && env.ends_with(" feature-auth"),
        "{env}"
    );
    // One commit on top of main, with the task note and the commits' subjects.
    assert_eq!(
        c.log("main")[..2],
        ["Log in with a magic link", "meanwhile on main"]
    );
    let body = c.git(&c.repo, &["log", "-1", "--format=%b", "main"]);
    assert!(body.contains("* add auth\n* add login"), "{body}");
    // initial, .gitignore, the template, main's commit, the squash.
    assert_eq!(c.git(&c.repo, &["rev-list", "--count", "main"]).trim(), "5");
    assert!(c.repo.join("auth.txt").exists() && c.repo.join("login.txt").exists());
    // The slot is gone as `rm` removes it: worktree, branch, lease.
    assert!(!slot.exists());
    assert!(!harden::branches(&c.env, &c.repo).contains("feature/auth"));
    assert!(c.slots().is_empty());
    assert!(harden::leases(&c.env).is_empty());
    assert!(c.git(&c.repo, &["status", "--porcelain"]).is_empty());
}

#[test]
fn squash_messages_come_from_m_else_the_task_else_the_commits() {
    let c = case("");
    // -m wins over the task note and the subjects.
    let a = c.add("a");
    c.env.ok(&c.repo, &["task", "a", "--set", "The task"]);
    c.commit(&a, "a1.txt", "1\n", "a one");
    c.commit(&a, "a2.txt", "2\n", "a two");
    c.merge_ok(&["a", "-m", "Land a\n\nWith a body."]);
    assert_eq!(
        c.git(&c.repo, &["log", "-1", "--format=%B", "main"]).trim(),
        "Land a\n\nWith a body."
    );
    // No task, several commits: the branch's name, then the subjects, oldest first.
    let b = c.add("feature/b");
    c.commit(&b, "b1.txt", "1\n", "b one");
    c.commit(&b, "b2.txt", "2\n", "b two");
    c.merge_ok(&["feature-b"]);
    assert_eq!(
        c.git(&c.repo, &["log", "-1", "--format=%B", "main"]).trim(),
        "feature/b\n\n* b one\n* b two"
    );
    // No task, one commit: its own message, body included.
    let d = c.add("d");
    std::fs::write(d.join("d.txt"), "d\n").unwrap();
    c.git(&d, &["add", "d.txt"]);
    c.git(&d, &["commit", "-q", "-m", "d: subject", "-m", "d's body"]);
    c.merge_ok(&["d"]);
    assert_eq!(
        c.git(&c.repo, &["log", "-1", "--format=%B", "main"]).trim(),
        "d: subject\n\nd's body"
    );
    assert_eq!(
        c.git(&c.repo, &["rev-list", "--merges", "--count", "main"])
            .trim(),
        "0"
    );
    assert!(c.slots().is_empty());
}

#[test]
fn rebase_keeps_the_commits_and_no_ff_makes_a_merge_commit() {
    let c = case("");
    let a = c.add("a");
    c.commit(&a, "a1.txt", "1\n", "a one");
    c.commit(&a, "a2.txt", "2\n", "a two");
    c.commit(&c.repo, "m.txt", "m\n", "main moves");
    c.merge_ok(&["a", "--rebase"]);
    assert_eq!(c.log("main")[..3], ["a two", "a one", "main moves"]);
    assert_eq!(
        c.git(&c.repo, &["rev-list", "--merges", "--count", "main"])
            .trim(),
        "0"
    );

    let b = c.add("b");
    c.commit(&b, "b.txt", "b\n", "b one");
    c.commit(&c.repo, "n.txt", "n\n", "main moves again");
    c.merge_ok(&["b", "--no-ff", "-m", "Land b"]);
    assert_eq!(c.log("main")[0], "Land b");
    let parents = c.git(&c.repo, &["log", "-1", "--format=%p", "main"]);
    assert_eq!(parents.split_whitespace().count(), 2, "{parents}");
    // Semi-linear: the merged branch was rebased onto main first.
    assert_eq!(c.log("main^2")[..2], ["b one", "main moves again"]);
    assert!(c.slots().is_empty());
}

#[test]
fn keep_leaves_the_slot_and_its_branch_integrated() {
    let c = case("");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    c.commit(&c.repo, "m.txt", "m\n", "main moves");
    c.merge_ok(&["a", "--keep"]);
    assert!(a.is_dir());
    assert_eq!(c.slots(), ["a"]);
    let ls = c.env.json(&c.repo, &["ls", "--json"]);
    assert_eq!(ls[0]["landing"]["integrated"], true, "{ls:#}");
    // The slot's worktree follows its rebased branch.
    assert!(a.join("m.txt").exists());
    assert!(c.git(&a, &["status", "--porcelain"]).is_empty());
    // Merging it again lands nothing and removes it.
    let stderr = c.merge_ok(&["a"]);
    assert!(
        stderr.contains("already integrated into main: nothing to land"),
        "{stderr}"
    );
    assert!(c.slots().is_empty());
    assert_eq!(c.log("main")[..2], ["a one", "main moves"]);
}

#[test]
fn from_inside_the_slot_it_is_the_default_slot() {
    let c = case("");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    let out = c.merge(&a, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!a.exists());
    assert_eq!(c.log("main")[0], "a one");
}

#[test]
fn a_dirty_slot_is_refused_and_its_files_listed() {
    let c = case("");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    std::fs::write(a.join("a.txt"), "changed\n").unwrap();
    std::fs::write(a.join("new file.txt"), "new\n").unwrap();
    let stderr = c.merge_changes_nothing(&["a"], 3, &[&c.repo, &a]);
    assert!(
        stderr.contains("modified  a.txt") && stderr.contains("untracked new file.txt"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
}

#[test]
fn a_failing_test_changes_nothing() {
    let c = case("test = [\"test -f must-exist.txt\"]\n");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    c.commit(&c.repo, "m.txt", "m\n", "main moves");
    let stderr = c.merge_changes_nothing(&["a"], 6, &[&c.repo, &a]);
    assert!(
        stderr.contains("test command 1/1 failed (exit status 1): test -f must-exist.txt"),
        "{stderr}"
    );
    assert!(stderr.contains("undone: put branch a back"), "{stderr}");
    // --no-test lands it.
    c.merge_ok(&["a", "--no-test"]);
    assert_eq!(c.log("main")[0], "a one");
}

#[test]
fn the_second_of_two_slots_conflicts_after_the_first_lands() {
    let c = case("");
    c.commit(&c.repo, "shared.txt", "one\ntwo\nthree\n", "shared file");
    let a = c.add("a");
    let b = c.add("b");
    c.commit(&a, "shared.txt", "one\nTWO (a)\nthree\n", "a edits two");
    c.commit(&b, "shared.txt", "one\nTWO (b)\nthree\n", "b edits two");
    c.commit(&b, "b.txt", "b\n", "b adds a file");
    // Before either lands, ls forecasts the conflict between them.
    let forecast = c.env.json(&c.repo, &["ls", "--conflicts", "--json"]);
    assert_eq!(
        forecast["pairs"][0]["files"][0], "shared.txt",
        "{forecast:#}"
    );
    c.merge_ok(&["a"]);
    let ls = c.env.json(&c.repo, &["ls", "--json"]);
    assert_eq!(ls[0]["landing"]["conflicts"], true, "{ls:#}");
    assert_eq!(ls[0]["landing"]["conflict_files"][0], "shared.txt");
    let stderr = c.merge_changes_nothing(&["b"], 5, &[&c.repo, &b]);
    assert!(stderr.contains("conflicts in:\n    shared.txt"), "{stderr}");
    assert!(!c.git(&b, &["status"]).contains("rebase in progress"));
    // Resolved in the slot, it lands.
    let out = std::process::Command::new("git")
        .current_dir(&b)
        .args(["rebase", "main"])
        .envs([("GIT_CONFIG_GLOBAL", c.env.root().join("gitconfig"))])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::write(b.join("shared.txt"), "one\nTWO (a and b)\nthree\n").unwrap();
    c.git(&b, &["add", "shared.txt"]);
    let mut cont = std::process::Command::new("git");
    c.env.isolate(&mut cont);
    let out = cont
        .current_dir(&b)
        .env("GIT_EDITOR", "true")
        .args(["rebase", "--continue"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    c.merge_ok(&["b"]);
    assert_eq!(
        std::fs::read_to_string(c.repo.join("shared.txt")).unwrap(),
        "one\nTWO (a and b)\nthree\n"
    );
    assert!(c.slots().is_empty());
}

#[test]
fn the_main_worktrees_own_changes_in_the_way_are_refused_and_untouched() {
    let c = case("");
    c.commit(&c.repo, "shared.txt", "base\n", "shared file");
    let a = c.add("a");
    c.commit(&a, "shared.txt", "from a\n", "a edits shared");
    c.commit(&a, "added.txt", "from a\n", "a adds a file");
    std::fs::write(c.repo.join("shared.txt"), "my own edit, not committed\n").unwrap();
    let stderr = c.merge_changes_nothing(&["a"], 3, &[&c.repo, &a]);
    assert!(
        stderr.contains("uncommitted changes are in the way") && stderr.contains("shared.txt"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(c.repo.join("shared.txt")).unwrap(),
        "my own edit, not committed\n"
    );
    // An untracked file where the branch adds one is in the way too.
    c.git(&c.repo, &["checkout", "--", "shared.txt"]);
    std::fs::write(c.repo.join("added.txt"), "mine\n").unwrap();
    let stderr = c.merge_changes_nothing(&["a"], 3, &[&c.repo, &a]);
    assert!(stderr.contains("added.txt"), "{stderr}");
    // Changes elsewhere are not in the way, and stay as they are.
    std::fs::remove_file(c.repo.join("added.txt")).unwrap();
    std::fs::write(c.repo.join("README"), "edited, not committed\n").unwrap();
    std::fs::write(c.repo.join("scratch.txt"), "untracked\n").unwrap();
    c.merge_ok(&["a"]);
    assert_eq!(
        std::fs::read_to_string(c.repo.join("shared.txt")).unwrap(),
        "from a\n"
    );
    assert_eq!(
        std::fs::read_to_string(c.repo.join("README")).unwrap(),
        "edited, not committed\n"
    );
    assert!(c.repo.join("scratch.txt").exists());
}

#[test]
fn a_base_checked_out_nowhere_moves_by_compare_and_swap() {
    let c = case("after = [\"touch \\\"$OUT/after-ran\\\"\"]\n");
    c.git(&c.repo, &["branch", "release"]);
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    let head_before = c.git(&c.repo, &["rev-parse", "HEAD"]);
    let out = c.merge(&c.repo, &["a", "--into", "release", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["moved"], "ref");
    assert_eq!(result["after_skipped"], true);
    assert!(text(&out.stderr).contains("[merge] after skipped"));
    assert!(!c.out("after-ran").exists());
    assert_eq!(c.log("release")[0], "a one");
    assert_eq!(
        c.git(&c.repo, &["rev-parse", "HEAD"]),
        head_before,
        "main untouched"
    );
}

#[test]
fn after_runs_in_the_base_worktree_without_the_slots_variables() {
    let c = case(
        "after = [\"pwd > \\\"$OUT/after-dir\\\"; printf %s \\\"${DATABASE_URL:-unset}|${GIT_AGENT_SLOT:-unset}|$PORT\\\" > \\\"$OUT/after-env\\\"\"]\n",
    );
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    // As the shell hook leaves it inside the slot: the slot's variables exported, with the
    // state that says what they were before.
    let slot_env = c.env.json(&c.repo, &["env", "a", "--json"]);
    let db = slot_env["env"]["DATABASE_URL"]
        .as_str()
        .unwrap()
        .to_string();
    let port = slot_env["env"]["PORT"].as_str().unwrap().to_string();
    let state = serde_json::json!({
        "root": a, "slot": "a",
        "prev": {"DATABASE_URL": null, "GIT_AGENT_SLOT": null, "PORT": "8080"},
        "applied": {"DATABASE_URL": db, "GIT_AGENT_SLOT": "a", "PORT": port},
    });
    let mut cmd = c.env.cmd(&a);
    cmd.args(["merge"])
        .env("OUT", c.env.root().join("out"))
        .env("DATABASE_URL", &db)
        .env("GIT_AGENT_SLOT", "a")
        .env("PORT", &port)
        .env("__GIT_AGENT_STATE", state.to_string());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(c.out("after-dir")).unwrap().trim(),
        c.repo.display().to_string()
    );
    assert_eq!(
        std::fs::read_to_string(c.out("after-env")).unwrap(),
        "unset|unset|8080"
    );
}

#[test]
fn a_failing_after_command_takes_the_landing_back() {
    let c = case("after = [\"echo migrating; exit 3\"]\n");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    c.commit(&c.repo, "m.txt", "m\n", "main moves");
    std::fs::write(c.repo.join("README"), "mine, uncommitted\n").unwrap();
    let stderr = c.merge_changes_nothing(&["a"], 1, &[&c.repo, &a]);
    assert!(
        stderr.contains("after command 1/1 failed (exit status 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("undone: moved main back to"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(c.repo.join("README")).unwrap(),
        "mine, uncommitted\n"
    );
}

#[test]
fn commands_not_approved_fail_at_once_and_yes_runs_them() {
    let c = case("");
    c.commit(
        &c.repo,
        ".git-agent.toml",
        "[merge]\ntest = [\"touch \\\"$OUT/tested\\\"\"]\n",
        "merge tests",
    );
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    let stderr = c.merge_changes_nothing(&["a"], 1, &[&c.repo, &a]);
    assert!(
        stderr.contains("asks to run merge commands you have not approved")
            && stderr.contains("git agent approve"),
        "{stderr}"
    );
    let listed = c.env.ok(&c.repo, &["approve", "--list"]);
    assert!(listed.contains("pending   touch"), "{listed}");
    c.merge_ok(&["a", "--yes"]);
    assert!(c.out("tested").exists());
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let c = case("test = [\"true\"]\nafter = [\"true\"]\n");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    let before = user_state(&c.env, &[&c.repo, &a]);
    let out = c.merge(&c.repo, &["a", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for step in [
        "merge slot a (a) into main, squash:",
        "1. rebase a (1 commit(s)) onto main",
        "2. test in the slot, with its environment: true",
        "3. land one squashed commit on main: `git merge --ff-only` in",
        "4. after, in",
        "5. remove slot a as `git agent rm` does",
    ] {
        assert!(plan.contains(step), "'{step}' missing:\n{plan}");
    }
    let d = diff(&before, &user_state(&c.env, &[&c.repo, &a]));
    assert!(d.is_empty(), "{d}");
}

#[test]
fn a_post_merge_hook_runs_once_the_landing_is_final() {
    let c = case("after = [\"git rev-parse HEAD > \\\"$OUT/after-saw\\\"\"]\n");
    let hook = c.repo.join(".git/hooks/post-merge");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$1 $(git rev-parse HEAD)\" >> '{}'\n",
            c.out("post-merge").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    c.merge_ok(&["a"]);
    let main = c.git(&c.repo, &["rev-parse", "main"]);
    assert_eq!(
        std::fs::read_to_string(c.out("post-merge")).unwrap(),
        format!("0 {main}"),
        "the hook ran once, after the landing"
    );
    // A failed landing never runs it.
    let b = c.add("b");
    c.commit(&b, "b.txt", "b\n", "b one");
    std::fs::write(
        c.repo.join(".git-agent.toml"),
        "[merge]\nafter = [\"false\"]\n",
    )
    .unwrap();
    c.git(&c.repo, &["commit", "-q", "-am", "failing after"]);
    c.env.ok(&c.repo, &["approve"]);
    let out = c.merge(&c.repo, &["b"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(c.out("post-merge"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[test]
fn usage_errors() {
    let c = case("");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    let err = c
        .env
        .fails(&c.repo, &["merge", "a", "--rebase", "-m", "x"], 2);
    assert!(err.contains("-m applies to --squash and --no-ff"), "{err}");
    let err = c.env.fails(&c.repo, &["merge", "a", "--into", "nope"], 2);
    assert!(err.contains("--into nope is not a local branch"), "{err}");
    let err = c
        .env
        .fails(&c.repo, &["merge", "a", "--squash", "--rebase"], 2);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = c.env.fails(&c.repo, &["merge"], 2);
    assert!(err.contains("not inside a slot"), "{err}");
}

/// The whole story: three agents, each slot with its own Postgres database; their
/// tests run against that database; they land one by one in the order `ls --conflicts`
/// proposes (one conflict resolved in its slot on the way), and at the end every slot and
/// every database is gone, without `--force`.
#[test]
fn three_agents_land_in_the_proposed_order() {
    let pg = servers::Postgres::start();
    pg.psql("postgres", "create database myapp_dev");
    let c = case("");
    c.commit(&c.repo, "routes.txt", "home\nabout\n", "routes");
    c.commit(
        &c.repo,
        ".git-agent.toml",
        "[database]\nengine = \"postgres\"\ntemplate = \"myapp_dev\"\n\n[merge]\ntest = [\"psql -X -q -A -t -d \\\"$DATABASE_URL\\\" -c 'select current_database()' > \\\"$OUT/test-$GIT_AGENT_SLOT\\\"\"]\n",
        "template",
    );
    c.env.ok(&c.repo, &["approve"]);
    let run = |dir: &Path, args: &[&str]| -> std::process::Output {
        let mut cmd = c.env.cmd(dir);
        cmd.args(args).env("OUT", c.env.root().join("out"));
        pg.env(&mut cmd);
        cmd.output().unwrap()
    };
    let ok = |dir: &Path, args: &[&str]| -> String {
        let out = run(dir, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let before: Vec<String> = pg.databases();
    let mut slots = BTreeMap::new();
    for name in ["auth", "billing", "search"] {
        let dir = PathBuf::from(ok(&c.repo, &["add", name]).trim());
        slots.insert(name, dir);
    }
    assert_eq!(pg.databases().len(), before.len() + 3);
    // auth and billing both edit the routes; search works elsewhere.
    c.commit(
        &slots["auth"],
        "routes.txt",
        "home\nabout\nlogin\n",
        "auth: login route",
    );
    c.commit(
        &slots["billing"],
        "routes.txt",
        "home\nabout\ninvoices\n",
        "billing: invoices route",
    );
    c.commit(&slots["billing"], "billing.txt", "b\n", "billing: model");
    c.commit(&slots["search"], "search.txt", "s\n", "search: index");
    let forecast: serde_json::Value =
        serde_json::from_str(&ok(&c.repo, &["ls", "--conflicts", "--json"])).unwrap();
    let order: Vec<String> = forecast["orders"][0]["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, ["auth", "search", "billing"], "{forecast:#}");
    assert_eq!(forecast["orders"][0]["expected_conflicts"], 1);
    let text_view = ok(&c.repo, &["ls", "--conflicts"]);
    assert!(
        text_view.contains("auth     billing  routes.txt"),
        "{text_view}"
    );
    for name in &order {
        let dir = &slots[name.as_str()];
        let db = {
            let env = c.env.json(&c.repo, &["env", name, "--json"]);
            env["database"]
                .as_str()
                .unwrap()
                .trim_start_matches("postgres:")
                .to_string()
        };
        let mut out = run(&c.repo, &["merge", name]);
        if out.status.code() == Some(5) {
            // The conflict the forecast named: resolved in the slot, as the message says.
            assert!(
                text(&out.stderr).contains("routes.txt"),
                "{}",
                text(&out.stderr)
            );
            let mut rebase = std::process::Command::new("git");
            c.env.isolate(&mut rebase);
            let r = rebase
                .current_dir(dir)
                .args(["rebase", "main"])
                .output()
                .unwrap();
            assert!(!r.status.success());
            std::fs::write(dir.join("routes.txt"), "home\nabout\nlogin\ninvoices\n").unwrap();
            c.git(dir, &["add", "routes.txt"]);
            let mut cont = std::process::Command::new("git");
            c.env.isolate(&mut cont);
            let r = cont
                .current_dir(dir)
                .env("GIT_EDITOR", "true")
                .args(["rebase", "--continue"])
                .output()
                .unwrap();
            assert!(r.status.success(), "{}", text(&r.stderr));
            out = run(&c.repo, &["merge", name]);
        }
        assert!(out.status.success(), "merge {name}: {}", text(&out.stderr));
        // Its test ran against its own database.
        assert_eq!(
            std::fs::read_to_string(c.out(&format!("test-{name}")))
                .unwrap()
                .trim(),
            db
        );
        assert!(!pg.databases().contains(&db), "{name}'s database is left");
        assert!(!dir.exists());
    }
    assert_eq!(
        std::fs::read_to_string(c.repo.join("routes.txt")).unwrap(),
        "home\nabout\nlogin\ninvoices\n"
    );
    // main has all three agents' work, one squashed commit each.
    assert_eq!(
        std::fs::read_to_string(c.repo.join("billing.txt")).unwrap(),
        "b\n"
    );
    assert_eq!(
        std::fs::read_to_string(c.repo.join("search.txt")).unwrap(),
        "s\n"
    );
    assert_eq!(
        c.log("main")[..3],
        ["billing", "search: index", "auth: login route"],
        "one commit each, in the proposed order (a single commit keeps its message)"
    );
    assert!(c.git(&c.repo, &["status", "--porcelain"]).is_empty());
    // Every slot, worktree, branch, database and lease is gone.
    assert!(c.slots().is_empty());
    assert_eq!(pg.databases(), before);
    assert!(harden::leases(&c.env).is_empty());
    assert_eq!(
        harden::branches(&c.env, &c.repo)
            .into_iter()
            .collect::<Vec<_>>(),
        ["main"],
        "only main is left"
    );
    let worktrees = c.git(&c.repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    // And doctor finds nothing wrong with the repository or a slot.
    let out = run(&c.repo, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error" || !f["slot"].is_null())
        .collect();
    assert!(problems.is_empty(), "{report:#}");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
}

#[test]
fn an_ignored_file_where_the_landing_adds_one_is_never_overwritten() {
    // Ignored files are what `git merge` overwrites without asking; this one appears in the
    // main worktree while the test runs, after the plan checked.
    let c = case("test = [\"printf 'my secrets\\\\n' > \\\"$MAIN/settings.local\\\"\"]\n");
    c.commit(
        &c.repo,
        ".gitignore",
        ".env.local\nsettings.local\n",
        "ignore local settings",
    );
    let a = c.add("a");
    c.commit(&a, "notes.txt", "n\n", "a notes");
    std::fs::write(a.join("settings.local"), "from the branch\n").unwrap();
    c.git(&a, &["add", "-f", "settings.local"]);
    c.git(&a, &["commit", "-q", "-m", "a tracks settings.local"]);
    let mut cmd = c.env.cmd(&c.repo);
    cmd.args(["merge", "a"])
        .env("MAIN", &c.repo)
        .env("OUT", c.env.root().join("out"));
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("in the way") && stderr.contains("settings.local"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(c.repo.join("settings.local")).unwrap(),
        "my secrets\n"
    );
    assert_eq!(c.log("main")[0], "ignore local settings");
    assert!(a.is_dir());
    // Present before the merge, it is refused at once.
    let err = c.merge_changes_nothing(&["a", "--no-test"], 3, &[&c.repo, &a]);
    assert!(err.contains("settings.local"), "{err}");
}

#[test]
fn a_process_running_in_the_slot_is_refused_and_kill_stops_it() {
    let c = case("");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    // An agent or dev server still working in the slot.
    let mut server = std::process::Command::new("sleep")
        .arg("60")
        .current_dir(&a)
        .spawn()
        .unwrap();
    let stderr = c.merge_changes_nothing(&["a"], 3, &[&c.repo, &a]);
    assert!(
        stderr.contains("still run in slot a")
            && stderr.contains("--kill")
            && !stderr.contains("--force"),
        "{stderr}"
    );
    let out = c.merge(&c.repo, &["a", "--kill"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        server.wait().unwrap().code().is_none(),
        "the process was stopped by a signal"
    );
    assert_eq!(c.log("main")[0], "a one");
    assert!(!a.exists());
}

#[test]
fn a_file_the_rebase_stops_ignoring_is_kept_as_rm_would() {
    // The slot's notes.log is ignored when the merge starts; main stopped ignoring *.log, so
    // once the branch is rebased the file is untracked work that `rm` would refuse to lose.
    let c = case("");
    c.commit(&c.repo, ".gitignore", ".env.local\n*.log\n", "ignore logs");
    let a = c.add("a");
    c.commit(&a, "a.txt", "a\n", "a one");
    std::fs::write(a.join("notes.log"), "my notes\n").unwrap();
    c.commit(&c.repo, ".gitignore", ".env.local\n", "logs are kept now");
    let out = c.merge(&c.repo, &["a", "--no-test"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("landed a on main")
            && stderr.contains("untracked file: notes.log")
            && stderr.contains("`git agent rm a` finishes it"),
        "{stderr}"
    );
    assert_eq!(c.log("main")[0], "a one", "the landing stands");
    assert_eq!(
        std::fs::read_to_string(a.join("notes.log")).unwrap(),
        "my notes\n"
    );
    assert_eq!(c.slots(), ["a"]);
}

#[test]
fn a_file_a_hook_makes_during_the_rebase_is_kept_as_rm_would() {
    // git rebase runs post-checkout in the slot: what it makes there is looked at again.
    let c = case("");
    let hook = c.repo.join(".git/hooks/post-checkout");
    std::fs::write(&hook, "#!/bin/sh\necho made > generated-by-hook.txt\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = c.add("a");
    std::fs::remove_file(a.join("generated-by-hook.txt")).ok();
    c.commit(&a, "a.txt", "a\n", "a one");
    c.commit(&c.repo, "m.txt", "m\n", "main moves");
    let out = c.merge(&c.repo, &["a", "--no-test"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("landed a on main") && stderr.contains("generated-by-hook.txt"),
        "{stderr}"
    );
    assert!(a.join("generated-by-hook.txt").exists());
    assert_eq!(c.slots(), ["a"]);
    // The same with the hook where core.hooksPath says (relative to the worktree).
    std::fs::remove_file(&hook).unwrap();
    c.git(&c.repo, &["config", "core.hooksPath", ".hooks"]);
    let b = c.add("b");
    std::fs::create_dir_all(b.join(".hooks")).unwrap();
    std::fs::write(
        b.join(".hooks/post-checkout"),
        "#!/bin/sh
echo made > generated-by-hook.txt
",
    )
    .unwrap();
    std::fs::set_permissions(
        b.join(".hooks/post-checkout"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let exclude = c.repo.join(".git/info/exclude");
    let mut excluded = std::fs::read_to_string(&exclude).unwrap();
    excluded.push_str(".hooks/\n");
    std::fs::write(&exclude, excluded).unwrap();
    c.commit(&b, "b.txt", "b\n", "b one");
    c.commit(&c.repo, "n.txt", "n\n", "main moves again");
    let out = c.merge(&c.repo, &["b", "--no-test"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(b.join("generated-by-hook.txt").exists(), "{stderr}");
}

#[test]
fn gits_background_upkeep_after_the_last_commit_is_waited_for() {
    // `git commit` starts `git maintenance run --auto --detach` in the worktree, and it
    // outlives the commit; here a `pre-auto-gc` hook holds it there a few seconds.
    let c = case("");
    let a = c.add("a");
    let started = c.out("upkeep-started");
    let hook = c.repo.join(".git/hooks/pre-auto-gc");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n[ -e '{0}' ] && exit 1\ntouch '{0}'\nsleep 3\nexit 1\n",
            started.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Enough loose objects (these 600 put three in objects/17) for gc.auto = 1 to want a gc.
    c.git(&c.repo, &["config", "gc.auto", "1"]);
    std::fs::create_dir_all(a.join("many")).unwrap();
    for i in 0..600 {
        std::fs::write(a.join(format!("many/{i}")), format!("object {i}\n")).unwrap();
    }
    c.git(&a, &["add", "many"]);
    c.git(&a, &["commit", "-q", "-m", "a: many files"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "git maintenance did not run the hook"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stderr = c.merge_ok(&["a"]);
    assert!(
        !stderr.contains("still run")
            && stderr.contains("waiting for git's background maintenance"),
        "{stderr}"
    );
    assert_eq!(c.log("main")[0], "a: many files");
    assert!(!a.exists());
}
