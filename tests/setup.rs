//! Getting a slot ready: `[setup] copy` and `[setup] run`, the approval of repository
//! commands (on a real pty and without a terminal), `--keep-on-failure`, `--no-setup`, the
//! agent command after `--`, task notes and `adopt`. Real repositories, real files, real
//! commands.

mod support;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expectrl::session::OsSession;
use expectrl::{Expect, Session};
use support::{Env, text};

/// A repository with `.gitignore`, the template `toml`, and the given files (not committed
/// unless listed in `tracked`).
fn repo_with(env: &Env, toml: &str, files: &[(&str, &str)], tracked: &[&str]) -> PathBuf {
    let repo = env.repo("app");
    std::fs::write(
        repo.join(".gitignore"),
        "node_modules/\n.env\n*.local.yml\n",
    )
    .unwrap();
    std::fs::write(repo.join(".git-agent.toml"), toml).unwrap();
    for (file, content) in files {
        let path = repo.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    env.git(&repo, &["add", ".gitignore", ".git-agent.toml"]);
    for file in tracked {
        env.git(&repo, &["add", "--", file]);
    }
    env.git(&repo, &["commit", "-q", "-m", "template"]);
    repo
}

fn slot_dir(repo: &Path, slot: &str) -> PathBuf {
    repo.parent().unwrap().join("app-worktrees").join(slot)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn registry_names(env: &Env) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(env.state_dir().join("registry.json")) else {
        return vec![];
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

fn branches(env: &Env, repo: &Path) -> Vec<String> {
    env.git(repo, &["branch", "--format=%(refname:short)"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Asserts that a failed `add` of `slot` on `branch` left nothing behind.
fn assert_nothing_left(env: &Env, repo: &Path, slot: &str, branch: &str) {
    assert!(
        !slot_dir(repo, slot).exists(),
        "the slot directory is still there"
    );
    assert!(
        !branches(env, repo).contains(&branch.to_string()),
        "branch {branch} is still there"
    );
    assert!(
        !registry_names(env).contains(&slot.to_string()),
        "the lease of {slot} is still there"
    );
    assert!(
        !repo
            .join(".git/agent/slots")
            .join(format!("{slot}.toml"))
            .exists(),
        "the record of {slot} is still there"
    );
    let worktrees = env.git(repo, &["worktree", "list", "--porcelain"]);
    let path = format!("worktree {}\n", slot_dir(repo, slot).display());
    assert!(!worktrees.contains(&path), "{worktrees}");
}

#[test]
fn copies_ignored_and_untracked_files_and_trees_with_symlinks_and_modes() {
    let env = Env::new();
    let toml = r#"
[setup]
copy = [".env", "node_modules", "config/*.yml", "notes.txt", "nothing-here*"]
"#;
    let repo = repo_with(
        &env,
        toml,
        &[
            (".env", "SECRET=from-main\n"),
            ("node_modules/pkg/index.js", "module.exports = 1;\n"),
            ("node_modules/pkg/lib/deep/file.js", "deep\n"),
            ("node_modules/.bin/tool", "#!/bin/sh\necho tool\n"),
            ("config/app.yml", "tracked: committed\n"),
            ("config/dev.local.yml", "local: yes\n"),
            ("notes.txt", "untracked notes\n"),
        ],
        &["config/app.yml"],
    );
    // Modes, a relative symlink, a dangling one and one pointing outside the tree.
    std::fs::set_permissions(repo.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(
        repo.join("node_modules/.bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("../pkg/index.js", repo.join("node_modules/.bin/pkg")).unwrap();
    std::os::unix::fs::symlink("missing-target", repo.join("node_modules/dangling")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", repo.join("node_modules/outside")).unwrap();
    // A tracked file with an uncommitted change must come from the checkout, not the copy.
    std::fs::write(repo.join("config/app.yml"), "tracked: changed in main\n").unwrap();

    let out = env.run(&repo, &["add", "feat"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let slot = slot_dir(&repo, "feat");
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", slot.display()),
        "stdout carries only the path"
    );
    assert!(
        stderr.contains("'nothing-here*' matches nothing"),
        "a glob matching nothing is a warning: {stderr}"
    );

    let read = |p: &str| std::fs::read_to_string(slot.join(p)).unwrap();
    assert_eq!(read(".env"), "SECRET=from-main\n");
    assert_eq!(mode(&slot.join(".env")), 0o600);
    assert_eq!(read("node_modules/pkg/lib/deep/file.js"), "deep\n");
    assert_eq!(mode(&slot.join("node_modules/.bin/tool")), 0o755);
    for (link, target) in [
        ("node_modules/.bin/pkg", "../pkg/index.js"),
        ("node_modules/dangling", "missing-target"),
        ("node_modules/outside", "/etc/hostname"),
    ] {
        let meta = std::fs::symlink_metadata(slot.join(link)).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "{link} is no longer a symlink"
        );
        assert_eq!(
            std::fs::read_link(slot.join(link)).unwrap(),
            PathBuf::from(target)
        );
    }
    assert_eq!(read("node_modules/.bin/pkg"), "module.exports = 1;\n");
    assert_eq!(read("config/dev.local.yml"), "local: yes\n");
    assert_eq!(read("notes.txt"), "untracked notes\n");
    assert_eq!(read("config/app.yml"), "tracked: committed\n");
    // The copies are ignored or untracked in the slot too: `git status` sees only notes.txt.
    let status = env.git(&slot, &["status", "--porcelain"]);
    assert_eq!(status.trim(), "?? notes.txt", "{status}");
}

#[test]
fn a_copied_env_file_keeps_its_lines_and_gets_the_block() {
    let env = Env::new();
    let repo = repo_with(
        &env,
        "[setup]\ncopy = [\".env.local\"]\n",
        &[(".env.local", "API_KEY=mine\n")],
        &[],
    );
    // .env.local is untracked and not ignored: it is copied, then git-agent's block is added.
    env.ok(&repo, &["add", "feat"]);
    let text = std::fs::read_to_string(slot_dir(&repo, "feat").join(".env.local")).unwrap();
    assert!(text.starts_with("API_KEY=mine\n"), "{text}");
    assert!(text.contains("PORT="), "{text}");
    assert_eq!(
        std::fs::read_to_string(repo.join(".env.local")).unwrap(),
        "API_KEY=mine\n",
        "the main worktree's file is untouched"
    );
}

#[test]
fn setup_commands_run_in_order_in_the_slot_with_its_env() {
    let env = Env::new();
    let toml = r#"
[ports]
PORT = 38000
[setup]
run = [
  "echo \"$PORT\" > port.txt",
  "echo first >> order.txt",
  "echo second >> order.txt; echo to-stdout-$GIT_AGENT_SLOT",
  "pwd > pwd.txt",
]
"#;
    let repo = repo_with(&env, toml, &[], &[]);
    let out = env.run(&repo, &["add", "feat", "--yes", "--json"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is only the JSON");
    let port = json["ports"]["PORT"].as_u64().unwrap();
    let slot = slot_dir(&repo, "feat");
    let read = |p: &str| std::fs::read_to_string(slot.join(p)).unwrap();
    assert_eq!(read("port.txt").trim(), port.to_string());
    assert_eq!(read("order.txt"), "first\nsecond\n");
    assert_eq!(
        std::fs::canonicalize(read("pwd.txt").trim()).unwrap(),
        std::fs::canonicalize(&slot).unwrap()
    );
    assert!(
        stderr.contains("to-stdout-feat"),
        "command stdout goes to stderr: {stderr}"
    );
    for (i, cmd) in [
        "[1/4] echo \"$PORT\" > port.txt",
        "[2/4] echo first",
        "[4/4] pwd",
    ]
    .iter()
    .enumerate()
    {
        assert!(
            stderr.contains(&format!("setup {cmd}")),
            "header {i}: {stderr}"
        );
    }
    let record = read_record(&repo, "feat");
    assert!(record.contains("state = \"ready\""), "{record}");
}

fn read_record(repo: &Path, slot: &str) -> String {
    std::fs::read_to_string(repo.join(".git/agent/slots").join(format!("{slot}.toml"))).unwrap()
}

#[test]
fn a_failing_setup_command_rolls_the_slot_back() {
    let env = Env::new();
    let toml = r#"
[setup]
copy = ["node_modules"]
run = ["echo ran > ran.txt", "echo broken >&2; exit 3", "touch never.txt"]
"#;
    let repo = repo_with(&env, toml, &[("node_modules/x.js", "x\n")], &[]);
    env.ok(&repo, &["add", "keep", "--no-setup"]);
    let out = env.run(&repo, &["add", "feat/x", "--yes"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("setup command 2/3 failed (exit status 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("undone: removed the worktree"), "{stderr}");
    assert!(
        stderr.contains("undone: deleted the branch feat/x"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).is_empty(),
        "no path for a slot that is gone"
    );
    assert_nothing_left(&env, &repo, "feat-x", "feat/x");
    // The other slot is untouched.
    assert_eq!(registry_names(&env), ["keep"]);
    assert!(slot_dir(&repo, "keep").is_dir());
}

#[test]
fn keep_on_failure_keeps_the_slot_and_says_how_to_remove_it() {
    let env = Env::new();
    let repo = repo_with(
        &env,
        "[setup]\nrun = [\"exit 4\", \"touch never.txt\"]\n",
        &[],
        &[],
    );
    let out = env.run(&repo, &["add", "feat", "--yes", "--keep-on-failure"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("kept as it is (--keep-on-failure)"),
        "{stderr}"
    );
    assert!(stderr.contains("git agent rm feat"), "{stderr}");
    let slot = slot_dir(&repo, "feat");
    assert_eq!(text(&out.stdout), format!("{}\n", slot.display()));
    assert!(slot.is_dir() && !slot.join("never.txt").exists());
    let ls = env.json(&repo, &["ls", "--json"]);
    assert_eq!(ls[0]["name"], "feat");
    assert_eq!(ls[0]["state"], "ready");
    env.ok(&repo, &["rm", "feat"]);
    assert_nothing_left(&env, &repo, "feat", "feat");
}

#[test]
fn ctrl_c_during_a_setup_command_rolls_back() {
    let env = Env::new();
    let repo = repo_with(
        &env,
        "[setup]\nrun = [\"touch started; exec sleep 60\"]\n",
        &[],
        &[],
    );
    let mut cmd = env.cmd(&repo);
    cmd.args(["add", "feat", "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().unwrap();
    let started = slot_dir(&repo, "feat").join("started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the setup command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // What a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    let pgid = child.id().to_string();
    let ok = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = child.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted; undoing"), "{stderr}");
    assert_nothing_left(&env, &repo, "feat", "feat");
}

#[test]
fn no_setup_skips_copy_run_and_approval() {
    let env = Env::new();
    let repo = repo_with(
        &env,
        "[setup]\ncopy = [\".env\"]\nrun = [\"touch ran.txt\"]\n",
        &[(".env", "A=1\n")],
        &[],
    );
    env.ok(&repo, &["add", "feat", "--no-setup"]);
    let slot = slot_dir(&repo, "feat");
    assert!(!slot.join(".env").exists() && !slot.join("ran.txt").exists());
}

#[test]
fn the_users_own_setup_commands_need_no_approval() {
    let env = Env::new();
    let repo = env.repo("app");
    std::fs::create_dir_all(env.config_file().parent().unwrap()).unwrap();
    std::fs::write(
        env.config_file(),
        "[defaults.setup]\nrun = [\"touch mine.txt\"]\n",
    )
    .unwrap();
    env.ok(&repo, &["add", "feat"]);
    assert!(slot_dir(&repo, "feat").join("mine.txt").exists());
}

/// Runs `add` with stdin a pipe that stays open (as under an agent or a CI job) and waits at
/// most a minute: it must fail at once instead of waiting for an answer.
fn add_without_terminal(env: &Env, repo: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = env.cmd(repo);
    cmd.arg("add")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.take().unwrap(); // kept open, never written to
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`git-agent add` waited for input on a pipe that is not a terminal");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

fn approvals(env: &Env) -> serde_json::Value {
    let text = std::fs::read_to_string(env.state_dir().join("approvals.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn unapproved_commands_fail_at_once_without_a_terminal() {
    let env = Env::new();
    let repo = repo_with(&env, "[setup]\nrun = [\"touch ran.txt\"]\n", &[], &[]);
    let (code, stderr) = add_without_terminal(&env, &repo, &["feat"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("touch ran.txt"),
        "names the command: {stderr}"
    );
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(stderr.contains("git agent approve"), "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_nothing_left(&env, &repo, "feat", "feat");
    assert!(!env.state_dir().join("approvals.json").exists());
}

/// A pty session running git-agent with the test's isolated environment.
fn pty(env: &Env, dir: &Path, args: &[&str]) -> OsSession {
    let mut cmd = Command::new(support::bin());
    env.isolate(&mut cmd);
    cmd.current_dir(dir)
        .env("PWD", dir)
        .env("TERM", "dumb")
        .args(args);
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(60)));
    session
}

fn exit_code(session: &OsSession) -> i32 {
    match session.get_process().wait().unwrap() {
        expectrl::process::unix::WaitStatus::Exited(_, code) => code,
        other => panic!("not a normal exit: {other:?}"),
    }
}

#[test]
fn approval_is_asked_on_a_terminal_remembered_and_asked_again_when_changed() {
    let env = Env::new();
    let repo = repo_with(&env, "[setup]\nrun = [\"touch ran.txt\"]\n", &[], &[]);

    // Asked on a terminal; "y" runs the command and remembers it.
    let mut session = pty(&env, &repo, &["add", "one"]);
    session.expect("touch ran.txt").unwrap();
    session.expect("[y/N]").unwrap();
    session.send_line("y").unwrap();
    session.expect("slot one ready").unwrap();
    session.expect(expectrl::Eof).unwrap();
    assert_eq!(exit_code(&session), 0);
    assert!(slot_dir(&repo, "one").join("ran.txt").exists());
    let store = approvals(&env);
    let common = std::fs::canonicalize(repo.join(".git")).unwrap();
    assert_eq!(store["approved"][0]["command"], "touch ran.txt");
    assert_eq!(store["approved"][0]["repo"], common.to_str().unwrap());

    // Remembered: no terminal needed any more.
    let (code, stderr) = add_without_terminal(&env, &repo, &["two"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(slot_dir(&repo, "two").join("ran.txt").exists());

    // A changed command is asked about again; without a terminal it fails at once.
    std::fs::write(
        repo.join(".git-agent.toml"),
        "[setup]\nrun = [\"touch ran.txt && touch more.txt\"]\n",
    )
    .unwrap();
    let (code, stderr) = add_without_terminal(&env, &repo, &["three"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("touch ran.txt && touch more.txt"),
        "{stderr}"
    );
    let mut session = pty(&env, &repo, &["add", "three"]);
    session.expect("touch more.txt").unwrap();
    session.expect("[y/N]").unwrap();
    session.send_line("n").unwrap();
    session.expect("not approved").unwrap();
    session.expect(expectrl::Eof).unwrap();
    assert_eq!(exit_code(&session), 1);
    assert_nothing_left(&env, &repo, "three", "three");

    // Another repository with the same command text is asked about on its own.
    let other = env.repo("other");
    std::fs::write(
        other.join(".git-agent.toml"),
        "[setup]\nrun = [\"touch ran.txt\"]\n",
    )
    .unwrap();
    let (code, _) = add_without_terminal(&env, &other, &["x"]);
    assert_eq!(code, Some(1));
}

#[test]
fn approve_lists_approves_and_revokes() {
    let env = Env::new();
    let repo = repo_with(
        &env,
        "[setup]\nrun = [\"touch a.txt\", \"touch b.txt\"]\n",
        &[],
        &[],
    );
    assert_eq!(
        env.ok(&repo, &["approve", "--list"]),
        "pending   touch a.txt\npending   touch b.txt\n"
    );
    let out = env.run(&repo, &["approve"]);
    assert!(out.status.success());
    assert!(text(&out.stderr).contains("approved: touch b.txt"));
    assert_eq!(
        env.ok(&repo, &["approve", "--list"]),
        "approved  touch a.txt\napproved  touch b.txt\n"
    );
    let (code, stderr) = add_without_terminal(&env, &repo, &["feat"]);
    assert_eq!(code, Some(0), "{stderr}");
    env.ok(&repo, &["approve", "--revoke"]);
    assert_eq!(approvals(&env)["approved"].as_array().unwrap().len(), 0);
    let (code, _) = add_without_terminal(&env, &repo, &["other"]);
    assert_eq!(code, Some(1));
}

#[test]
fn the_agent_command_gets_the_terminal_input_and_its_exit_status_is_passed_on() {
    let env = Env::new();
    let repo = env.repo("app");
    let script = "if [ -t 0 ] && [ -t 1 ] && [ -t 2 ]; then echo TTY-ALL; fi; \
                  echo \"port=$PORT\"; read line; echo \"got:$line\"; exit 7";
    let mut session = pty(&env, &repo, &["add", "agent", "--", "sh", "-c", script]);
    session.expect("TTY-ALL").unwrap();
    session.expect("port=").unwrap();
    session.send_line("hello agent").unwrap();
    session.expect("got:hello agent").unwrap();
    session.expect(expectrl::Eof).unwrap();
    assert_eq!(exit_code(&session), 7);
    // The slot stays: the command's failure is not the slot's.
    assert!(slot_dir(&repo, "agent").is_dir());
}

#[test]
fn signals_reach_the_agent_command() {
    let env = Env::new();
    let repo = env.repo("app");
    // Ctrl-C typed on the terminal.
    let script = "trap 'echo TRAPPED-INT; exit 5' INT; echo READY; while :; do sleep 0.05; done";
    let mut session = pty(&env, &repo, &["add", "a", "--", "sh", "-c", script]);
    session.expect("READY").unwrap();
    session.send(expectrl::ControlCode::EndOfText).unwrap();
    session.expect("TRAPPED-INT").unwrap();
    session.expect(expectrl::Eof).unwrap();
    assert_eq!(exit_code(&session), 5);
    assert!(
        slot_dir(&repo, "a").is_dir(),
        "Ctrl-C in the agent does not roll the slot back"
    );

    // SIGTERM sent to the pid that was git-agent reaches the agent.
    let script = "trap 'echo TRAPPED-TERM; exit 9' TERM; echo READY; while :; do sleep 0.05; done";
    let mut session = pty(&env, &repo, &["add", "b", "--", "sh", "-c", script]);
    session.expect("READY").unwrap();
    let pid = session.get_process().pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    session.expect("TRAPPED-TERM").unwrap();
    session.expect(expectrl::Eof).unwrap();
    assert_eq!(exit_code(&session), 9);
}

#[test]
fn task_notes_are_stored_shown_and_changed() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "plain"]);
    let ls = env.ok(&repo, &["ls", "--no-status"]);
    assert!(!ls.contains("TASK"), "no TASK column without tasks: {ls}");

    let task = "Add email/password login\nTests in tests/auth; no new dependencies";
    env.ok(&repo, &["add", "feature/auth", "--task", task]);
    let file = env.root().join("task.md");
    std::fs::write(&file, "Fix the payment rounding bug\n\nSee issue 12.\n").unwrap();
    env.ok(
        &repo,
        &["add", "fix/pay", "--task-file", file.to_str().unwrap()],
    );

    let ls = env.ok(&repo, &["ls", "--no-status"]);
    let header = ls.lines().next().unwrap();
    assert!(header.contains("TASK"), "{ls}");
    let row = |name: &str| {
        ls.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(
        row("feature-auth").contains("Add email/password login"),
        "{ls}"
    );
    assert!(
        !ls.contains("Tests in tests/auth"),
        "only the first line: {ls}"
    );
    assert!(
        row("fix-pay").contains("Fix the payment rounding bug"),
        "{ls}"
    );
    assert!(row("plain").contains(" - "), "{ls}");

    let json = env.json(&repo, &["ls", "--json", "--no-status"]);
    let auth = json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "feature-auth")
        .unwrap();
    assert_eq!(auth["task"], task);
    assert_eq!(
        env.json(&repo, &["env", "fix-pay", "--json"])["task"],
        "Fix the payment rounding bug\n\nSee issue 12."
    );
    assert_eq!(
        env.ok(&repo, &["task", "feature-auth"]),
        format!("{task}\n")
    );

    // From inside the slot, with no name; --set changes it, an empty one clears it.
    let slot = slot_dir(&repo, "feature-auth");
    env.ok(&slot, &["task", "--set", "Now: password reset too"]);
    assert_eq!(env.ok(&slot, &["task"]), "Now: password reset too\n");
    env.ok(&repo, &["task", "feature/auth", "--set", ""]);
    assert_eq!(env.ok(&repo, &["task", "feature-auth"]), "");
    assert!(env.json(&repo, &["env", "feature-auth", "--json"])["task"].is_null());
}

#[test]
fn adopt_makes_a_plain_worktree_a_slot_without_touching_its_files() {
    let env = Env::new();
    let toml = "[ports]\nPORT = 39000\n[setup]\ncopy = [\".env\"]\nrun = [\"echo \\\"$PORT\\\" > port.txt\"]\n";
    let repo = repo_with(&env, toml, &[(".env", "SECRET=1\n")], &[]);
    let wt = env.root().join("hand-made");
    env.worktree_add(&repo, "by-hand", &wt);
    std::fs::write(wt.join("work.txt"), "uncommitted work\n").unwrap();
    std::fs::write(wt.join("README"), "changed by the user\n").unwrap();
    std::fs::write(wt.join(".env.local"), "MINE=1\n").unwrap();

    let out = env.run(
        &repo,
        &[
            "adopt",
            wt.to_str().unwrap(),
            "--name",
            "hand",
            "--yes",
            "--task",
            "Adopted",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(text(&out.stdout), format!("{}\n", wt.display()));

    let env_local = std::fs::read_to_string(wt.join(".env.local")).unwrap();
    assert!(env_local.starts_with("MINE=1\n"), "{env_local}");
    assert!(env_local.contains("GIT_AGENT_SLOT=hand"), "{env_local}");
    assert_eq!(
        std::fs::read_to_string(wt.join("work.txt")).unwrap(),
        "uncommitted work\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("README")).unwrap(),
        "changed by the user\n"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join(".env")).unwrap(),
        "SECRET=1\n"
    );
    let json = env.json(&repo, &["env", "hand", "--json"]);
    assert_eq!(json["branch"], "by-hand");
    assert_eq!(json["task"], "Adopted");
    let port = json["ports"]["PORT"].as_u64().unwrap();
    assert_eq!(
        std::fs::read_to_string(wt.join("port.txt")).unwrap().trim(),
        port.to_string()
    );
    let record = read_record(&repo, "hand");
    assert!(record.contains("adopted = true"), "{record}");
    assert!(record.contains("created_branch = false"), "{record}");

    // Adopting it twice, the main worktree, or a directory inside it is refused.
    let again = env.fails(&repo, &["adopt", wt.to_str().unwrap()], 1);
    assert!(again.contains("already slot hand"), "{again}");
    let main = env.fails(&repo, &["adopt", repo.to_str().unwrap()], 1);
    assert!(main.contains("main worktree"), "{main}");

    // rm follows the same safety rules: the uncommitted work is refused, then --force
    // removes the worktree; the branch, which git-agent did not create, stays.
    let refused = env.fails(&repo, &["rm", "hand"], 3);
    assert!(
        refused.contains("untracked file") || refused.contains("uncommitted"),
        "{refused}"
    );
    assert!(wt.join("work.txt").exists());
    env.ok(&repo, &["rm", "hand", "--force"]);
    assert!(!wt.exists());
    assert!(branches(&env, &repo).contains(&"by-hand".to_string()));
    assert!(registry_names(&env).is_empty());
}

#[test]
fn a_failed_adopt_leaves_the_worktree_as_it_was() {
    let env = Env::new();
    let toml = "[setup]\ncopy = [\"node_modules\"]\nrun = [\"exit 2\"]\n";
    let repo = repo_with(&env, toml, &[("node_modules/m.js", "m\n")], &[]);
    let wt = env.root().join("wt");
    env.git(
        &repo,
        &["worktree", "add", "-q", "-b", "side", wt.to_str().unwrap()],
    );
    std::fs::write(wt.join(".env.local"), "MINE=1\n").unwrap();
    let before = env.git(&wt, &["status", "--porcelain", "--ignored"]);
    let out = env.run(&repo, &["adopt", wt.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("undone: removed the copied"),
        "{}",
        text(&out.stderr)
    );
    assert!(wt.is_dir());
    assert!(!wt.join("node_modules").exists());
    assert_eq!(
        std::fs::read_to_string(wt.join(".env.local")).unwrap(),
        "MINE=1\n"
    );
    assert_eq!(
        env.git(&wt, &["status", "--porcelain", "--ignored"]),
        before
    );
    assert!(registry_names(&env).is_empty());
    assert!(branches(&env, &repo).contains(&"side".to_string()));
}
