//! Real processes for the board's tests: started in a directory, ended when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Env;

/// A process started by a test, killed when the test ends however it ends.
pub struct Running(pub Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A repository whose slots get ports from a base no other test uses (tests run in
/// parallel, each with its own registry of leases).
pub fn repo_with_free_ports(env: &Env, name: &str) -> PathBuf {
    let repo = env.repo(name);
    let base = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        - 1;
    env.commit(
        &repo,
        ".git-agent.toml",
        &format!("[ports]\nPORT = {base}\n"),
    );
    repo
}

/// Where `git agent add SLOT` puts a slot of `repo` by default.
pub fn slot_dir(repo: &Path, slot: &str) -> PathBuf {
    let name = repo.file_name().unwrap().to_str().unwrap();
    repo.parent()
        .unwrap()
        .join(format!("{name}-worktrees"))
        .join(slot)
}

pub fn port_of(env: &Env, repo: &Path, slot: &str) -> u16 {
    env.json(repo, &["env", slot, "--json"])["ports"]["PORT"]
        .as_u64()
        .unwrap() as u16
}

/// `git agent exec SLOT -- python3 -m http.server $PORT`, listening once this returns.
pub fn http_server(env: &Env, repo: &Path, slot: &str) -> (Running, u16) {
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
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    path
}

/// The Python interpreter itself (not a version manager's shim script in front of it).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is installed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// CPU time a process used so far, in clock ticks (Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15; 12 and 13 after the name.
    fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
}

/// A program called `name` (like an agent CLI) working in `dir`: busy burns a core, idle
/// sleeps. Returns once it runs its script (and, busy, once it has used the CPU).
pub fn agent(env: &Env, name: &str, dir: &Path, busy: bool) -> Running {
    let body = if busy {
        "while True:\n    pass\n"
    } else {
        "import time\ntime.sleep(600)\n"
    };
    let program = script(
        &env.root().join("agents"),
        name,
        &format!("#!{}\n{body}", python()),
    );
    std::fs::create_dir_all(dir).unwrap();
    let child = Command::new(&program)
        .current_dir(dir)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let pid = running.pid();
    wait_for(
        || {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(name) && (!busy || cpu_ticks(pid) >= 5)
        },
        "the agent to run",
    );
    if !busy {
        // Past the interpreter's start-up, which uses the CPU: asleep once its time stands still.
        wait_for(
            || {
                let before = cpu_ticks(pid);
                std::thread::sleep(Duration::from_millis(300));
                cpu_ticks(pid) == before
            },
            "the idle agent to settle",
        );
    }
    running
}

/// A `sleep` in `dir`.
pub fn sleeper(dir: &Path) -> Running {
    Running(
        Command::new("sleep")
            .arg("600")
            .current_dir(dir)
            .spawn()
            .unwrap(),
    )
}

pub fn alive(pid: u32) -> bool {
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
