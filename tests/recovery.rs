//! Finishing from any state, and never forgetting silently: `prune` follows a worktree that
//! `git worktree move` moved instead of releasing the database it still uses, keeps a slot
//! whose worktree is locked away, goes on past a slot it cannot finish (reporting it, marked
//! broken, exit 1) and finishes it once it can; `prune --repair` never overwrites an earlier
//! backup of a damaged registry.

mod harden;
#[path = "support/servers.rs"]
mod servers;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Env;

/// A repository whose template gives each slot a Postgres database cloned from `myapp_dev`
/// on a private server.
struct Pg {
    env: Env,
    repo: PathBuf,
    pg: servers::Postgres,
}

fn with_postgres() -> Pg {
    let pg = servers::Postgres::start();
    pg.psql("postgres", "create database myapp_dev");
    let env = Env::new();
    let repo = env.repo("app");
    env.commit(
        &repo,
        ".git-agent.toml",
        "[database]\nengine = \"postgres\"\ntemplate = \"myapp_dev\"\n",
    );
    Pg { env, repo, pg }
}

impl Pg {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.cmd(&self.repo);
        cmd.args(args)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.pg.port.to_string())
            .env("PGUSER", "postgres");
        cmd
    }

    fn run(&self, args: &[&str], code: i32) -> (String, String) {
        let out = self.cmd(args).output().unwrap();
        let (stdout, stderr) = (support::text(&out.stdout), support::text(&out.stderr));
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}:\nstdout: {stdout}\nstderr: {stderr}"
        );
        (stdout, stderr)
    }

    fn database_of(&self, slot: &str) -> String {
        let (out, _) = self.run(&["env", "--json", slot], 0);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        json["database"]
            .as_str()
            .unwrap()
            .trim_start_matches("postgres:")
            .to_string()
    }
}

#[test]
fn a_slot_moved_with_git_worktree_move_is_followed_not_forgotten() {
    let p = with_postgres();
    let (out, _) = p.run(&["add", "moving"], 0);
    let old = PathBuf::from(out.trim());
    let db = p.database_of("moving");
    let new = p.env.root().join("elsewhere").join("moving");
    std::fs::create_dir_all(new.parent().unwrap()).unwrap();
    p.env.git(
        &p.repo,
        &[
            "worktree",
            "move",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
    );
    // doctor says what happened and what to run; prune follows the worktree.
    let out = p.cmd(&["doctor", "--json"]).output().unwrap();
    assert!(harden::doctor_errors(&out).is_empty());
    assert!(support::text(&out.stdout).contains("git moved its worktree"));
    let (_, err) = p.run(&["prune"], 0);
    assert!(err.contains("following slot moving"), "{err}");
    assert!(
        p.pg.databases().contains(&db),
        "prune dropped the database of a moved slot"
    );
    let (path, _) = p.run(&["path", "moving"], 0);
    assert_eq!(Path::new(path.trim()), new);
    harden::assert_consistent(&p.env, &[&p.repo]);
    let (_, again) = p.run(&["prune"], 0);
    assert!(again.contains("nothing to prune"), "{again}");
    // rm removes it at its new place, database and all.
    p.run(&["rm", "moving"], 0);
    assert!(!new.exists());
    assert!(!p.pg.databases().contains(&db));
    harden::assert_consistent(&p.env, &[&p.repo]);
}

#[test]
fn a_slot_on_a_locked_worktree_that_is_not_there_is_kept() {
    let p = with_postgres();
    let (out, _) = p.run(&["add", "usb"], 0);
    let path = PathBuf::from(out.trim());
    let db = p.database_of("usb");
    p.env.git(
        &p.repo,
        &[
            "worktree",
            "lock",
            "--reason",
            "on a USB disk",
            path.to_str().unwrap(),
        ],
    );
    // The disk is unplugged: the directory is not there.
    let away = p.env.root().join("unplugged");
    std::fs::rename(&path, &away).unwrap();
    let (_, err) = p.run(&["prune"], 0);
    assert!(
        err.contains("kept slot usb") && err.contains("on a USB disk"),
        "{err}"
    );
    assert!(p.pg.databases().contains(&db));
    // Plugged in again, all is as it was.
    std::fs::rename(&away, &path).unwrap();
    harden::assert_consistent(&p.env, &[&p.repo]);
}

#[test]
fn prune_goes_on_past_a_slot_it_cannot_finish_and_finishes_it_later() {
    let p = with_postgres();
    let (out, _) = p.run(&["add", "first"], 0);
    let first = PathBuf::from(out.trim());
    p.env.commit(
        &p.repo,
        ".git-agent.toml",
        "[database]\nengine = \"sqlite\"\n",
    );
    let (out, _) = p.run(&["add", "second"], 0);
    let second = PathBuf::from(out.trim());
    let db = p.database_of("first");
    // Both directories deleted by hand; the database server of the first is down.
    std::fs::remove_dir_all(&first).unwrap();
    std::fs::remove_dir_all(&second).unwrap();
    p.pg.stop_server();
    let (_, err) = p.run(&["prune"], 1);
    assert!(err.contains("could not finish slot first"), "{err}");
    assert!(err.contains("forgetting slot second"), "{err}");
    assert!(err.contains("could not finish 1 slot(s): first"), "{err}");
    // The one left is listed, marked broken, with the command that finishes it.
    let (ls, _) = p.run(&["ls", "--no-status"], 0);
    assert!(
        ls.contains("first (ready, broken: git agent prune)"),
        "{ls}"
    );
    assert!(!ls.contains("second"), "{ls}");
    let (doctor, _) = p.run(&["doctor"], 1);
    assert!(
        doctor.contains("broken:") && doctor.contains("fix: git agent prune"),
        "{doctor}"
    );
    assert!(p.pg.start_server());
    let (_, err) = p.run(&["prune"], 0);
    assert!(err.contains("forgetting slot first"), "{err}");
    assert!(!p.pg.databases().contains(&db));
    harden::assert_consistent(&p.env, &[&p.repo]);
    assert!(harden::leases(&p.env).is_empty());
    let out = p.cmd(&["doctor", "--json"]).output().unwrap();
    assert!(harden::doctor_errors(&out).is_empty());
}

#[test]
fn two_repairs_in_one_second_keep_every_damaged_file() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "one"]);
    let dir = env.state_dir();
    let registry = dir.join("registry.json");
    // Backups an earlier repair made in this second and the next few.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let earlier: Vec<(PathBuf, String)> = (now..now + 5)
        .map(|t| {
            (
                dir.join(format!("registry.json.damaged.{t}")),
                format!("older {t}"),
            )
        })
        .collect();
    for (path, text) in &earlier {
        std::fs::write(path, text).unwrap();
    }
    for damage in ["garbage one", "garbage two", "garbage three"] {
        std::fs::write(&registry, damage).unwrap();
        let err = env.fails(&repo, &["prune", "--repair"], 0);
        assert!(err.contains("the damaged file is kept as"), "{err}");
    }
    for (path, text) in &earlier {
        assert_eq!(
            &std::fs::read_to_string(path).unwrap(),
            text,
            "{} was overwritten",
            path.display()
        );
    }
    let mut kept: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("registry.json.damaged.")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .filter(|t| t.starts_with("garbage"))
        .collect();
    kept.sort();
    assert_eq!(kept, ["garbage one", "garbage three", "garbage two"]);
    harden::assert_consistent(&env, &[&repo]);
}

#[test]
fn a_branch_checked_out_again_by_hand_is_kept_by_rm_and_prune() {
    let env = Env::new();
    let repo = env.repo("app");
    for name in ["one", "two"] {
        let out = env.cmd(&repo).args(["add", name]).output().unwrap();
        assert!(out.status.success(), "{}", support::text(&out.stderr));
        // The slot's directory deleted by hand, and its branch checked out again elsewhere.
        let path = PathBuf::from(support::text(&out.stdout).trim());
        std::fs::remove_dir_all(&path).unwrap();
        env.git(&repo, &["worktree", "prune"]);
        let mine = repo.parent().unwrap().join(format!("mine-{name}"));
        env.git(&repo, &["worktree", "add", mine.to_str().unwrap(), name]);
    }
    // rm --force forgets one, prune the other; neither deletes a branch someone has checked out.
    let out = env
        .cmd(&repo)
        .args(["rm", "--force", "one"])
        .output()
        .unwrap();
    let err = support::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("kept the branch one: the worktree") && err.contains("mine-one"),
        "{err}"
    );
    let out = env.cmd(&repo).arg("prune").output().unwrap();
    let err = support::text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("forgetting slot two"), "{err}");
    let branches = harden::branches(&env, &repo);
    assert!(
        branches.contains("one") && branches.contains("two"),
        "{branches:?}"
    );
    let list = env.git(&repo, &["worktree", "list"]);
    assert!(
        list.contains("mine-one") && list.contains("mine-two"),
        "{list}"
    );
    assert!(harden::leases(&env).is_empty());
}

#[test]
fn a_lock_file_left_by_a_command_killed_before_or_after_the_record_is_swept_by_prune() {
    let env = Env::new();
    let repo = env.repo("app");
    let lock = |name: &str| harden::common_dir(&repo).join(format!("agent/slots/{name}.lock"));
    env.ok(&repo, &["add", "gone"]);
    // Killed with the slot's lock held: after choosing the name (nothing recorded yet), and
    // after forgetting the slot (the record gone).
    let killed = [
        ("new", vec!["add", "new"], "named"),
        ("gone", vec!["rm", "gone"], "released"),
    ];
    for (name, args, at) in &killed {
        let finished = harden::Paused::start(&env, &repo, args, at, &[]).signal("KILL");
        assert_eq!(finished.status.code(), None, "{name}: killed");
        assert!(lock(name).exists(), "{name}: the kill leaves the lock file");
    }
    let out = env.run(&repo, &["prune"]);
    assert!(out.status.success(), "{}", support::text(&out.stderr));
    for (name, _, _) in &killed {
        assert!(!lock(name).exists(), "{name}: prune deletes it");
    }
    // Nothing else was left: the names are free again.
    env.ok(&repo, &["add", "new"]);
    env.ok(&repo, &["add", "gone"]);
    harden::assert_consistent(&env, &[&repo]);
}
