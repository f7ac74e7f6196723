//! Helpers shared by the hardening tests (concurrency, interrupt, safety, hostile): a
//! snapshot of everything under a test's temp dir, the machine-wide state checked for
//! consistency, and a way to stop the binary at a named step and signal it there.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Env, text};

/// Every path under `root` (relative, `/`-separated) with its kind, mode and content hash.
/// Paths for which `skip` is true (and everything under them) are left out.
pub fn snapshot(root: &Path, skip: &dyn Fn(&str) -> bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, skip: &dyn Fn(&str) -> bool, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if skip(&rel) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link -> {}", std::fs::read_link(&path).unwrap().display()),
            );
        } else if meta.is_dir() {
            out.insert(rel, format!("dir {mode:o}"));
            walk(root, &path, skip, out);
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            out.insert(
                rel,
                format!("file {mode:o} {:016x} ({} bytes)", fnv(&bytes), bytes.len()),
            );
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The snapshot the hardening tests compare: everything under `root` but lock files, the
/// test's own marker files (names starting with `marker`), and the `app` repository's
/// `.git/agent` and `.git/agent/slots` once empty: git-agent's own directories, which hold
/// nothing then.
pub fn snapshot_of_app(root: &Path, marker: &str) -> BTreeMap<String, String> {
    let mut snap = snapshot(root, &|rel| only_lock_files(rel) || rel.starts_with(marker));
    for dir in ["app/.git/agent/slots", "app/.git/agent"] {
        let prefix = format!("{dir}/");
        if !snap.keys().any(|k| k.starts_with(&prefix)) {
            snap.remove(dir);
        }
    }
    snap
}

/// Lock files: git-agent creates them once and keeps them (an flock needs a file); they hold
/// no data. Everything else must match.
pub fn only_lock_files(rel: &str) -> bool {
    rel.ends_with("/agent/lock") || rel == "state/git-agent/lock"
}

/// A readable difference between two snapshots, empty when they are equal.
pub fn diff(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        match (before.get(key), after.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(a), Some(b)) => out.push_str(&format!("  changed {key}: {a} -> {b}\n")),
            (Some(a), None) => out.push_str(&format!("  gone    {key} ({a})\n")),
            (None, Some(b)) => out.push_str(&format!("  new     {key} ({b})\n")),
            (None, None) => {}
        }
    }
    out
}

/// The machine-wide registry, parsed (it must always be valid JSON).
pub fn registry(env: &Env) -> serde_json::Value {
    let path = env.state_dir().join("registry.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|_| r#"{"version":1,"slots":[]}"#.into());
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON ({e}):\n{text}", path.display()))
}

/// The registry entries as (repo common dir, slot name, root, ports).
pub fn leases(env: &Env) -> Vec<(String, String, String, Vec<u64>)> {
    let reg = registry(env);
    reg["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let ports = s["ports"]
                .as_object()
                .unwrap()
                .values()
                .map(|p| p.as_u64().unwrap())
                .collect();
            (
                s["repo"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
                s["root"].as_str().unwrap().to_string(),
                ports,
            )
        })
        .collect()
}

/// The slot records of a repository: name -> (state, path).
pub fn records(repo: &Path) -> BTreeMap<String, toml::Value> {
    let dir = common_dir(repo).join("agent").join("slots");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(slot) = name.strip_suffix(".toml")
            && !slot.starts_with('.')
        {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let value: toml::Value = toml::from_str(&text)
                .unwrap_or_else(|e| panic!("record {name} is damaged: {e}\n{text}"));
            out.insert(slot.to_string(), value);
        }
    }
    out
}

pub fn common_dir(repo: &Path) -> PathBuf {
    std::fs::canonicalize(repo.join(".git")).unwrap()
}

/// Checks the invariants that must hold whenever no git-agent process is running: the
/// registry is valid, it lists exactly the slot records of `repos`, every leased port and
/// root is distinct, every record is `ready` with its directory and worktree present, and
/// the roots file the shell hook reads matches the registry.
pub fn assert_consistent(env: &Env, repos: &[&Path]) {
    let leases = leases(env);
    let mut ports = BTreeSet::new();
    let mut roots = BTreeSet::new();
    for (_, name, root, slot_ports) in &leases {
        for port in slot_ports {
            assert!(
                ports.insert(*port),
                "port {port} leased twice (slot {name}); registry: {leases:#?}"
            );
        }
        assert!(
            roots.insert(root.clone()),
            "root {root} leased twice; registry: {leases:#?}"
        );
    }
    let mut expected = BTreeSet::new();
    for repo in repos {
        let common = common_dir(repo);
        let worktrees = env.git(repo, &["worktree", "list", "--porcelain"]);
        for (name, record) in records(repo) {
            assert_eq!(
                record["state"].as_str(),
                Some("ready"),
                "slot {name} is not ready: {record:#?}"
            );
            let path = record["path"].as_str().unwrap();
            assert!(Path::new(path).is_dir(), "slot {name}: {path} is missing");
            assert!(
                worktrees.contains(&format!("worktree {path}\n")),
                "slot {name}: {path} is not a worktree:\n{worktrees}"
            );
            assert!(roots.contains(path), "slot {name}: {path} has no lease");
            expected.insert((common.to_string_lossy().into_owned(), name));
        }
    }
    let leased: BTreeSet<(String, String)> = leases
        .iter()
        .map(|(r, n, _, _)| (r.clone(), n.clone()))
        .collect();
    assert_eq!(leased, expected, "registry entries and slot records differ");
    let roots_file = std::fs::read_to_string(env.state_dir().join("roots")).unwrap_or_default();
    let listed: BTreeSet<String> = roots_file.lines().map(str::to_string).collect();
    assert_eq!(listed, roots, "the roots file does not match the registry");
}

/// A git-agent process stopped at a named step (`GIT_AGENT_TEST_PAUSE_AT`), in its own
/// process group so that it can be signalled as a terminal would.
pub struct Paused {
    pub child: Child,
    pub pid: u32,
    /// The file whose creation lets the paused process go on.
    pub resume_file: PathBuf,
}

impl Paused {
    /// Starts `git-agent ARGS` in `dir` and waits until it reports that it reached `step`.
    /// Panics (with the process's output) if it exits before reaching it.
    pub fn start(
        env: &Env,
        dir: &Path,
        args: &[&str],
        step: &str,
        extra: &[(&str, &str)],
    ) -> Paused {
        Paused::spawn(env, dir, args, step, extra, None)
    }

    /// Like `start`, with stderr going to `log`, which can be read while the process waits.
    pub fn start_with_stderr(
        env: &Env,
        dir: &Path,
        args: &[&str],
        step: &str,
        log: &Path,
    ) -> Paused {
        Paused::spawn(env, dir, args, step, &[], Some(log))
    }

    fn spawn(
        env: &Env,
        dir: &Path,
        args: &[&str],
        step: &str,
        extra: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Paused {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let file = env
            .root()
            .join(format!("pause-{}-{seq}-{step}", std::process::id()));
        let resume_file = env
            .root()
            .join(format!("pause-{}-{seq}-{step}.resume", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let mut cmd = env.cmd(dir);
        cmd.args(args)
            .env("GIT_AGENT_TEST_PAUSE_AT", step)
            .env("GIT_AGENT_TEST_PAUSE_FILE", &file)
            .env("GIT_AGENT_TEST_RESUME_FILE", &resume_file)
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(log) => Stdio::from(std::fs::File::create(log).unwrap()),
                None => Stdio::piped(),
            })
            .process_group(0);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        // A guard against hanging forever, not a timing assumption: reaching a step takes
        // milliseconds.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let Ok(pid) = text.trim().parse::<u32>()
            {
                let _ = std::fs::remove_file(&file);
                return Paused {
                    pid,
                    child,
                    resume_file,
                };
            }
            if let Some(status) = child.try_wait().unwrap() {
                let (out, err) = drain(&mut child);
                panic!(
                    "git-agent {args:?} exited ({status}) before reaching step {step}\nstdout: {out}\nstderr: {err}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "git-agent {args:?} never reached step {step}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `signal` (`INT`, `KILL`, `TERM`, `HUP`) to the whole process group and waits.
    pub fn signal(self, signal: &str) -> Finished {
        self.send(signal);
        self.wait()
    }

    /// Sends `signal` to the whole process group, without waiting.
    pub fn send(&self, signal: &str) {
        signal_group(self.pid, signal);
    }

    /// Lets the paused process go on from its step.
    pub fn resume(&self) {
        std::fs::write(&self.resume_file, "").unwrap();
    }

    /// Waits for the process to end.
    pub fn wait(self) -> Finished {
        let out = self.child.wait_with_output().unwrap();
        Finished {
            status: out.status,
            stdout: text(&out.stdout),
            stderr: text(&out.stderr),
        }
    }
}

/// `kill -SIGNAL -- -PGID`: a signal to a whole process group, as a terminal sends it.
pub fn signal_group(pgid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} -{pgid} failed");
}

pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn drain(child: &mut Child) -> (String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut err);
    }
    (text(&out), text(&err))
}

/// Branches of a repository (short names).
pub fn branches(env: &Env, repo: &Path) -> BTreeSet<String> {
    env.git(
        repo,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// What a user sees of the repositories under the temp dir: every file with its content and
/// mode (git's internals left out), and per worktree in `worktrees` its HEAD, index entries
/// and `git status`, and every ref. Left out is what git rewrites without changing anything a
/// user sees, and what a rollback cannot (and need not) take back: objects, reflogs,
/// `ORIG_HEAD`, the index files' bytes (their stat data); and lock files.
pub fn user_state(env: &Env, worktrees: &[&Path]) -> BTreeMap<String, String> {
    let internal = |rel: &str| {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        only_lock_files(rel)
            || rel.starts_with("pause-")
            || rel.ends_with("/agent/merge.lock")
            || rel.contains(".git/objects")
            || rel.contains(".git/logs")
            || (rel.contains(".git/worktrees/") && rel.contains("/logs"))
            || matches!(
                name,
                "ORIG_HEAD" | "AUTO_MERGE" | "index" | "COMMIT_EDITMSG" | "FETCH_HEAD"
            )
    };
    let mut state = snapshot(&env.root(), &internal);
    for dir in worktrees {
        let key = dir
            .strip_prefix(env.root())
            .unwrap_or(dir)
            .display()
            .to_string();
        let git = |args: &[&str]| env.git(dir, args);
        state.insert(
            format!("{key} :HEAD"),
            git(&["rev-parse", "--symbolic-full-name", "HEAD"]),
        );
        state.insert(format!("{key} :index"), git(&["ls-files", "-s"]));
        state.insert(
            format!("{key} :status"),
            git(&[
                "status",
                "--porcelain=v1",
                "--ignored=matching",
                "--untracked-files=all",
            ]),
        );
        state.insert(
            format!("{key} :refs"),
            git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        );
    }
    state
}

/// The errors `doctor --json` finds, from the output of a run. A leased port that some
/// other program on the machine listens on (another test's server) says nothing about
/// git-agent's own state, so `port` findings are left out.
pub fn doctor_errors(out: &std::process::Output) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {}", text(&out.stdout)));
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "error" && f["check"] != "port")
        .cloned()
        .collect()
}
