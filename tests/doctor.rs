//! `git agent doctor`: each problem it knows is made for real (a killed `add`, a deleted
//! directory, a lost record or lease, a foreign process on a leased port, a broken template,
//! a missing tool, an unreachable server, a shell without the hook) and must be reported with
//! the command that fixes it, and the exit status must say whether something is wrong.

#[path = "support/servers.rs"]
mod servers;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expectrl::Expect;
use serde_json::Value;
use support::{Env, text};

/// `doctor --json` in `dir` with extra variables: (exit code, findings, stderr).
fn doctor_with(env: &Env, dir: &Path, vars: &[(&str, &str)]) -> (i32, Value, String) {
    let mut cmd = env.cmd(dir);
    cmd.args(["doctor", "--json"]).envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor printed no JSON ({e}): {}", text(&out.stderr)));
    assert_eq!(json["version"], 2);
    let code = out.status.code().unwrap();
    assert_eq!(
        json["ok"],
        code == 0,
        "ok and the exit status agree: {json:#}"
    );
    // Every problem comes with the command that fixes it.
    for f in json["findings"].as_array().unwrap() {
        if f["level"] == "error" || f["level"] == "warning" {
            assert!(
                f["fix"].as_str().is_some_and(|s| !s.is_empty()),
                "no fix: {f}"
            );
        }
    }
    (code, json, text(&out.stderr))
}

fn doctor(env: &Env, dir: &Path) -> (i32, Value, String) {
    doctor_with(env, dir, &[])
}

/// The findings of a check (and slot) at a level.
fn found<'a>(json: &'a Value, check: &str, level: &str) -> Vec<&'a Value> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check && f["level"] == level)
        .collect()
}

fn errors(json: &Value) -> Vec<&Value> {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error")
        .collect()
}

fn slot_dir(repo: &Path, slot: &str) -> PathBuf {
    repo.parent()
        .unwrap()
        .join(format!(
            "{}-worktrees",
            repo.file_name().unwrap().to_string_lossy()
        ))
        .join(slot)
}

#[test]
fn a_healthy_repository_has_no_errors() {
    let env = Env::new();
    let repo = env.repo("app");
    let pages = env.root().join("man/man1");
    env.ok(&repo, &["install-man", "--dir", pages.to_str().unwrap()]);
    env.ok(&repo, &["add", "feat"]);
    let (code, json, stderr) = doctor(&env, &repo);
    assert_eq!(code, 0, "{json:#}\n{stderr}");
    assert!(errors(&json).is_empty(), "{json:#}");
    let git = &found(&json, "git", "ok")[0];
    assert!(
        git["message"].as_str().unwrap().starts_with("git 2."),
        "{git}"
    );
    assert_eq!(found(&json, "template", "ok").len(), 1);
    assert!(
        found(&json, "slot", "ok")[0]["message"]
            .as_str()
            .unwrap()
            .contains("1 slot(s)")
    );
    // No shell hook in a test process: a warning with the line to add, not an error.
    let shell = &found(&json, "shell", "warning")[0];
    assert!(
        shell["fix"].as_str().unwrap().contains("git agent init"),
        "{shell}"
    );

    // The human form: one line per finding, the fix under it; data on stdout.
    let out = env
        .cmd(&repo)
        .arg("doctor")
        .env_remove("MANPATH")
        .output()
        .unwrap();
    assert!(out.status.success());
    let report = text(&out.stdout);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("ok       git: git 2.")),
        "{report}"
    );
    assert!(
        report.contains("   fix: echo 'eval \"$(git agent init"),
        "{report}"
    );
    assert!(
        report.contains(&format!("ok       man: man pages in {}", pages.display())),
        "{report}"
    );
    assert!(
        text(&out.stderr).contains("0 error(s), 1 warning(s)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn outside_a_repository_only_machine_checks_run() {
    let env = Env::new();
    let dir = env.root().join("home");
    let (code, json, _) = doctor(&env, &dir);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(found(&json, "repository", "info").len(), 1, "{json:#}");
    assert!(found(&json, "template", "ok").is_empty());
}

#[test]
fn a_slot_stuck_in_creating_is_found_and_prune_fixes_it() {
    let env = Env::new();
    let repo = env.repo("app");
    let pause = env.root().join("paused");
    let mut child = env
        .cmd(&repo)
        .args(["add", "killed"])
        .env("GIT_AGENT_TEST_PAUSE_AT", "envfile")
        .env("GIT_AGENT_TEST_PAUSE_FILE", &pause)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pause.exists() {
        assert!(
            Instant::now() < deadline,
            "add never reached the envfile step"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no rollback
    child.wait().unwrap();

    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1, "{json:#}");
    let stuck = found(&json, "slot", "error");
    assert_eq!(stuck.len(), 1, "{json:#}");
    assert_eq!(stuck[0]["slot"], "killed");
    assert!(stuck[0]["message"].as_str().unwrap().contains("creating"));
    assert_eq!(stuck[0]["fix"], "git agent prune");

    env.ok(&repo, &["prune"]);
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 0, "{json:#}");
}

#[test]
fn a_slot_whose_directory_is_gone_is_found() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "gone"]);
    std::fs::remove_dir_all(slot_dir(&repo, "gone")).unwrap();
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1);
    let gone = found(&json, "slot", "error");
    assert_eq!(gone.len(), 1, "{json:#}");
    assert!(gone[0]["message"].as_str().unwrap().contains("is gone"));
    assert!(
        gone[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("git agent prune")
    );
    env.ok(&repo, &["prune"]);
    assert_eq!(doctor(&env, &repo).0, 0);
}

#[test]
fn leases_without_slots_and_slots_without_leases_are_found() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "orphan"]);
    env.ok(&repo, &["add", "unleased"]);
    // A record deleted by hand leaves a lease behind.
    std::fs::remove_file(repo.join(".git/agent/slots/orphan.toml")).unwrap();
    // A lease lost from the registry leaves a slot whose ports another slot could get.
    let registry = env.state_dir().join("registry.json");
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    value["slots"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["name"] != "unleased");
    std::fs::write(&registry, serde_json::to_string(&value).unwrap()).unwrap();

    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1);
    let lease = found(&json, "lease", "error");
    assert_eq!(lease.len(), 1, "{json:#}");
    assert!(lease[0]["message"].as_str().unwrap().contains("orphan"));
    assert_eq!(lease[0]["fix"], "git agent prune");
    let slot = found(&json, "slot", "error");
    assert_eq!(slot.len(), 1, "{json:#}");
    assert_eq!(slot[0]["slot"], "unleased");
    assert_eq!(slot[0]["fix"], "git agent prune --repair");

    env.ok(&repo, &["prune"]);
    env.ok(&repo, &["prune", "--repair"]);
    // The worktree of the record deleted by hand is an orphan git-agent made; its fix works.
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1, "{json:#}");
    let orphan = found(&json, "orphan", "error");
    assert_eq!(orphan.len(), 1, "{json:#}");
    let path = repo.parent().unwrap().join("app-worktrees").join("orphan");
    let fix = orphan[0]["fix"].as_str().unwrap();
    assert!(fix.starts_with("git worktree remove "), "{fix}");
    env.git(&repo, &["worktree", "remove", path.to_str().unwrap()]);
    assert!(!path.exists());
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 0, "{json:#}");
}

/// Waits until something accepts connections on `port`.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing came to listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_foreign_process_on_a_leased_port_is_named_and_the_slots_own_is_not() {
    let env = Env::new();
    let repo = env.repo("app");
    let base = servers::free_port() - 1;
    std::fs::write(
        repo.join(".git-agent.toml"),
        format!("[ports]\nPORT = {base}\n"),
    )
    .unwrap();
    env.ok(&repo, &["add", "feat"]);
    let port = env.json(&repo, &["env", "feat", "--json"])["ports"]["PORT"]
        .as_u64()
        .unwrap() as u16;

    // This test process, outside the slot, takes the slot's port.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1, "{json:#}");
    let held = found(&json, "port", "error");
    assert_eq!(held.len(), 1, "{json:#}");
    let me = std::process::id();
    let message = held[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("port {port}")) && message.contains(&format!("pid {me}")),
        "{message}"
    );
    assert_eq!(held[0]["fix"], format!("stop it: kill {me}"));
    drop(listener);

    // The slot's own server (started with `exec`, in the slot) is in order.
    let mut server = env
        .cmd(&repo)
        .args(["exec", "feat", "--", "sh", "-c"])
        .arg("exec redis-server --port \"$PORT\" --bind 127.0.0.1 --save '' --appendonly no")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(port);
    let (code, json, _) = doctor(&env, &repo);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(code, 0, "{json:#}");
    let own = found(&json, "port", "ok");
    assert_eq!(own.len(), 1, "{json:#}");
    assert!(
        own[0]["message"]
            .as_str()
            .unwrap()
            .contains("the slot's own pid"),
        "{json:#}"
    );
}

#[test]
fn a_broken_template_is_an_error_naming_the_line() {
    let env = Env::new();
    let repo = env.repo("app");
    std::fs::write(repo.join(".git-agent.toml"), "[ports]\nPORT = \"x\"\n").unwrap();
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1);
    let bad = found(&json, "template", "error");
    assert!(
        bad[0]["message"]
            .as_str()
            .unwrap()
            .contains(".git-agent.toml:2"),
        "{json:#}"
    );

    std::fs::write(
        repo.join(".git-agent.toml"),
        "[env]\nURL = \"http://localhost:{NOPE}\"\n",
    )
    .unwrap();
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 1);
    assert!(
        found(&json, "template", "error")[0]["message"]
            .as_str()
            .unwrap()
            .contains("NOPE"),
        "{json:#}"
    );
}

/// A directory holding only `git` (and whatever else is named), for a PATH without tools.
fn bin_dir_with(env: &Env, tools: &[&str]) -> PathBuf {
    let dir = env.root().join(format!("bin-{}", tools.join("-")));
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["git"].iter().chain(tools) {
        let path = which(tool);
        std::os::unix::fs::symlink(path, dir.join(tool)).unwrap();
    }
    dir
}

fn which(tool: &str) -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .unwrap();
    let found = text(&out.stdout).trim().to_string();
    if !found.is_empty() {
        return PathBuf::from(found);
    }
    // Debian keeps psql beside the server binaries too.
    let pg = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(tool))
        .find(|p| p.exists());
    pg.unwrap_or_else(|| panic!("{tool} is not installed (.ci/run installs it)"))
}

#[test]
fn missing_tools_and_unreachable_servers_are_found() {
    let env = Env::new();
    let repo = env.repo("app");
    let closed = servers::free_port();
    std::fs::write(
        repo.join(".git-agent.toml"),
        format!(
            "[database]\nengine = \"postgres\"\nadmin_url = \"postgresql://postgres@127.0.0.1:{closed}/postgres\"\n\
             url = \"postgresql://postgres@127.0.0.1:{closed}/{{db}}\"\n[redis]\nurl = \"redis://127.0.0.1:{closed}/0\"\n"
        ),
    )
    .unwrap();
    // psql not on PATH.
    let bare = bin_dir_with(&env, &[]);
    let (code, json, _) = doctor_with(&env, &repo, &[("PATH", bare.to_str().unwrap())]);
    assert_eq!(code, 1);
    let tools = found(&json, "tools", "error");
    assert!(
        tools[0]["message"].as_str().unwrap().contains("psql"),
        "{json:#}"
    );
    assert!(
        tools[0]["fix"]
            .as_str()
            .unwrap()
            .contains("postgresql-client")
    );
    // psql there, but nothing listens; Redis neither.
    let with_psql = bin_dir_with(&env, &["psql"]);
    let (code, json, _) = doctor_with(&env, &repo, &[("PATH", with_psql.to_str().unwrap())]);
    assert_eq!(code, 1);
    let down = found(&json, "server", "error");
    assert_eq!(down.len(), 2, "{json:#}");
    assert!(
        down.iter()
            .any(|f| f["message"].as_str().unwrap().starts_with("Postgres"))
    );
    assert!(
        down.iter()
            .any(|f| f["message"].as_str().unwrap().starts_with("Redis"))
    );

    // Real servers answer.
    let pg = servers::Postgres::start();
    let redis = servers::Redis::start();
    std::fs::write(
        repo.join(".git-agent.toml"),
        format!(
            "[database]\nengine = \"postgres\"\nadmin_url = \"{}\"\nurl = \"{}\"\n[redis]\nurl = \"{}\"\n",
            pg.url("postgres"),
            pg.url("{db}"),
            redis.url(0)
        ),
    )
    .unwrap();
    let (code, json, _) = doctor_with(&env, &repo, &[("PATH", with_psql.to_str().unwrap())]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(found(&json, "server", "ok").len(), 2, "{json:#}");
}

#[test]
fn unapproved_setup_commands_are_a_warning() {
    let env = Env::new();
    let repo = env.repo("app");
    std::fs::write(
        repo.join(".git-agent.toml"),
        "[setup]\nrun = [\"npm ci\"]\n",
    )
    .unwrap();
    let (code, json, _) = doctor(&env, &repo);
    assert_eq!(code, 0);
    let pending = found(&json, "approvals", "warning");
    assert!(
        pending[0]["message"].as_str().unwrap().contains("npm ci"),
        "{json:#}"
    );
    assert!(
        pending[0]["fix"]
            .as_str()
            .unwrap()
            .contains("git agent approve")
    );
    env.ok(&repo, &["approve"]);
    assert_eq!(found(&doctor(&env, &repo).1, "approvals", "ok").len(), 1);
}

#[test]
fn shell_integration_is_seen_in_the_shell_that_loaded_it_only() {
    let env = Env::new();
    let repo = env.repo("app");
    let slot = PathBuf::from(env.ok(&repo, &["add", "feat"]).trim());
    let rc = env.root().join("bashrc");
    std::fs::write(&rc, "eval \"$(git agent init bash)\"\nPS1='$ '\n").unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--rcfile"]).arg(&rc).arg("-i");
    env.isolate(&mut cmd);
    cmd.current_dir(&repo).env("PWD", &repo).env("TERM", "dumb");
    let mut bash = expectrl::Session::spawn(cmd).unwrap();
    bash.set_expect_timeout(Some(Duration::from_secs(60)));
    let out = env.root();
    let run = |bash: &mut expectrl::session::OsSession, line: &str, n: u32| {
        bash.send_line(format!("{line}; echo DONE-{n}-$?")).unwrap();
        bash.expect(format!("DONE-{n}-").as_str()).unwrap();
    };
    // In the slot, after the prompt hook ran: active, and the slot's variables exported.
    bash.send_line(format!("cd '{}'", slot.display())).unwrap();
    run(
        &mut bash,
        &format!("git agent doctor --json > '{}/in-slot.json'", out.display()),
        1,
    );
    // A child shell inherits the variable but runs no hook.
    run(
        &mut bash,
        &format!(
            "bash -c \"git agent doctor --json > '{}/child.json'; true\"",
            out.display()
        ),
        2,
    );
    bash.send_line("exit").unwrap();
    bash.expect(expectrl::Eof).unwrap();

    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out.join(name)).unwrap()).unwrap()
    };
    let in_slot = read("in-slot.json");
    assert_eq!(found(&in_slot, "shell", "ok").len(), 1, "{in_slot:#}");
    assert!(
        found(&in_slot, "shell", "warning").is_empty(),
        "{in_slot:#}"
    );
    let child = read("child.json");
    let warning = &found(&child, "shell", "warning")[0];
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("parent shell"),
        "{child:#}"
    );
}
