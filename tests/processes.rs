//! Processes in slots, with real processes: a `python3 -m http.server` started with
//! `git agent exec`, programs named like agent CLIs in a slot's subdirectory, busy and idle,
//! and one in the main worktree. `ls --json` attributes them; `rm` refuses while they run,
//! stops them with `--kill`, and an agent may remove its own slot from inside.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Env, text};

/// A process started by a test, killed when the test ends however it ends.
struct Running(Child);

impl Running {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn slot_dir(repo: &Path, slot: &str) -> PathBuf {
    let name = repo.file_name().unwrap().to_str().unwrap();
    repo.parent()
        .unwrap()
        .join(format!("{name}-worktrees"))
        .join(slot)
}

fn port_of(env: &Env, repo: &Path, slot: &str) -> u16 {
    env.json(repo, &["env", slot, "--json"])["ports"]["PORT"]
        .as_u64()
        .unwrap() as u16
}

/// `git agent exec SLOT -- python3 -m http.server $PORT`, listening once this returns.
fn http_server(env: &Env, repo: &Path, slot: &str) -> (Running, u16) {
    let port = port_of(env, repo, slot);
    let child = env
        .cmd(repo)
        .args(["exec", slot, "--", "sh", "-c"])
        .arg("exec python3 -m http.server \"$PORT\" --bind 127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Running(child);
    wait_for(
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the http.server to listen",
    );
    (server, port)
}

/// An executable script named `name` in `dir` (so the process is called `name`).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    let mut cmd = Command::new("chmod");
    cmd.args(["+x"]).arg(&path).status().unwrap();
    path
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn rm_refuses_while_a_server_runs_then_kill_stops_it_and_removes_the_slot() {
    let env = Env::new();
    let repo = env.repo("web");
    env.ok(&repo, &["add", "site"]);
    let dir = slot_dir(&repo, "site");
    let (mut server, port) = http_server(&env, &repo, "site");
    let pid = server.pid();

    let stderr = env.fails(&repo, &["rm", "site"], 3);
    assert!(
        stderr.contains(&format!("pid {pid} (python3 -m http.server {port}"))
            && stderr.contains(&format!("listening on {port}"))
            && stderr.contains("--kill"),
        "{stderr}"
    );
    assert!(dir.is_dir(), "nothing removed");
    assert!(alive(pid), "the server was left alone");

    let out = env.run(&repo, &["rm", "--kill", "site"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("sent SIGTERM to pid {pid}"))
            && stderr.contains(&format!("stopped pid {pid}")),
        "{stderr}"
    );
    let status = server.0.wait().unwrap();
    assert!(!status.success(), "ended by the signal: {status:?}");
    assert!(!dir.exists(), "the slot is gone");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn rm_force_goes_ahead_and_names_what_keeps_running() {
    let env = Env::new();
    let repo = env.repo("web");
    env.ok(&repo, &["add", "site"]);
    let (server, _port) = http_server(&env, &repo, "site");
    let out = env.run(&repo, &["rm", "--force", "site"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("keep running") && stderr.contains(&format!("pid {}", server.pid())),
        "{stderr}"
    );
    assert!(alive(server.pid()), "--force does not stop anything");
}

#[test]
fn a_process_that_ignores_sigterm_gets_sigkill() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "stubborn"]);
    let dir = slot_dir(&repo, "stubborn");
    let child = Command::new("sh")
        .args(["-c", "trap '' TERM; while :; do sleep 1; done"])
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let mut stubborn = Running(child);
    // The shell must have set its trap before the signal comes.
    std::thread::sleep(Duration::from_millis(300));
    let out = env.run(&repo, &["rm", "--kill", "stubborn"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("sent SIGKILL"), "{stderr}");
    stubborn.0.wait().unwrap();
    assert!(!dir.exists());
}

#[test]
fn an_agent_removes_its_own_slot_from_inside() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "task"]);
    let dir = slot_dir(&repo, "task");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let out = env.root().join("agent-out");
    std::fs::create_dir_all(&out).unwrap();
    // Named like an agent CLI, working in a subdirectory, with a helper it left running: it
    // does not count itself (nor the `git-agent` it runs), only the helper.
    let agent = script(
        &env.root().join("bin"),
        "claude",
        "#!/bin/sh\n\
         cd \"$1/src\" || exit 9\n\
         sleep 600 &\n\
         echo $! > \"$2/helper.pid\"\n\
         git-agent rm task > \"$2/first.err\" 2>&1; echo $? > \"$2/first.code\"\n\
         git-agent rm --kill task > \"$2/second.err\" 2>&1; echo $? > \"$2/second.code\"\n",
    );
    let mut cmd = Command::new(&agent);
    env.isolate(&mut cmd);
    let status = cmd.arg(&dir).arg(&out).current_dir(&repo).status().unwrap();
    assert!(status.success());
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    let helper: u32 = read("helper.pid").trim().parse().unwrap();
    let first = read("first.err");
    assert_eq!(read("first.code").trim(), "3", "{first}");
    assert!(
        first.contains(&format!("pid {helper} (sleep 600)")),
        "{first}"
    );
    assert!(
        !first.contains("claude"),
        "the agent does not count itself: {first}"
    );
    let second = read("second.err");
    assert_eq!(read("second.code").trim(), "0", "{second}");
    assert!(
        second.contains(&format!("stopped pid {helper}")),
        "{second}"
    );
    assert!(!dir.exists(), "the slot is gone");
    wait_for(|| !alive(helper), "the helper to be gone");
}
