//! Processes in slots, with real processes: a `python3 -m http.server` started with
//! `git agent exec`, programs named like agent CLIs in a slot's subdirectory, busy and idle,
//! and one in the main worktree. `ls --json` attributes them; `rm` refuses while they run,
//! stops them with `--kill`, and an agent may remove its own slot from inside.

#[path = "support/procs.rs"]
mod procs;
mod support;

use std::process::Command;

use procs::{Running, agent, alive, http_server, script, sleeper, slot_dir, wait_for};
use support::{Env, text};

#[test]
fn rm_refuses_while_a_server_runs_then_kill_stops_it_and_removes_the_slot() {
    let env = Env::new();
    let repo = procs::repo_with_free_ports(&env, "web");
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
    let repo = procs::repo_with_free_ports(&env, "web");
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
    let ready = env.root().join("trapped");
    let child = Command::new("sh")
        .arg("-c")
        .arg("trap '' TERM; touch \"$1\"; while :; do sleep 1; done")
        .arg("sh")
        .arg(&ready)
        .current_dir(&dir)
        .spawn()
        .unwrap();
    let mut stubborn = Running(child);
    // The shell must have set its trap before the signal comes.
    wait_for(|| ready.exists(), "the shell to ignore SIGTERM");
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

fn slot<'a>(ls: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    ls.as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no slot {name}: {ls:#}"))
}

fn pids(slot: &serde_json::Value) -> Vec<u64> {
    slot["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect()
}

#[test]
fn processes_are_attributed_to_their_slot_and_the_main_worktree_keeps_its_own() {
    let env = Env::new();
    let repo = procs::repo_with_free_ports(&env, "app");
    for name in ["web", "busy", "idle"] {
        env.ok(&repo, &["add", name]);
    }
    let (server, port) = http_server(&env, &repo, "web");
    // Named like agent CLIs, started in a subdirectory of their slot.
    let codex = agent(
        &env,
        "codex",
        &slot_dir(&repo, "busy").join("src/deep"),
        true,
    );
    let claude = agent(&env, "claude", &slot_dir(&repo, "idle").join("docs"), false);
    let in_main = sleeper(&repo);

    let ls = env.json(&repo, &["ls", "--json"]);
    let web = slot(&ls, "web");
    let p = &web["processes"][0];
    assert_eq!(pids(web), [server.pid() as u64], "{web:#}");
    assert_eq!(p["name"], "http.server");
    assert_eq!(
        p["ports"],
        serde_json::json!([port]),
        "the port is the server's: {web:#}"
    );
    assert_eq!(web["listening"]["PORT"], true);

    let busy = slot(&ls, "busy");
    assert_eq!(pids(busy), [codex.pid() as u64], "{busy:#}");
    assert_eq!(
        (&busy["agent"], &busy["busy"]),
        (&"codex".into(), &true.into()),
        "{busy:#}"
    );
    assert_eq!(busy["processes"][0]["agent"], "codex");
    assert!(
        busy["processes"][0]["cwd"]
            .as_str()
            .unwrap()
            .ends_with("busy/src/deep")
    );

    let idle = slot(&ls, "idle");
    assert_eq!(pids(idle), [claude.pid() as u64], "{idle:#}");
    assert_eq!(
        (&idle["agent"], &idle["busy"]),
        (&"claude".into(), &false.into()),
        "{idle:#}"
    );

    // The main worktree's process is no slot's.
    for s in ls.as_array().unwrap() {
        assert!(!pids(s).contains(&(in_main.pid() as u64)), "{s:#}");
    }

    // env --json says the same of one slot; the table shows it at a glance.
    let one = env.json(&repo, &["env", "busy", "--json"]);
    assert_eq!(
        (&one["agent"], &one["busy"]),
        (&"codex".into(), &true.into()),
        "{one:#}"
    );
    assert_eq!(pids(&one), [codex.pid() as u64]);
    let table = env.ok(&repo, &["ls"]);
    let line = |needle: &str| {
        table
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle}: {table}"))
            .to_string()
    };
    assert!(line("  busy ").contains("codex busy"), "{table}");
    assert!(line("  idle ").contains("claude idle"), "{table}");
    assert!(
        line("  web ").contains(&format!("http.server:{port}")),
        "{table}"
    );
    assert!(
        line("(main)").contains("sleep"),
        "the main worktree's own: {table}"
    );
}

#[test]
fn another_users_process_in_a_slot_is_not_the_slots() {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv to run a process as another user");
        return;
    }
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "shared"]);
    let dir = slot_dir(&repo, "shared");
    // Started in the slot as root, then running as `nobody`, its working directory kept.
    let theirs = Running(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sleep",
                "600",
            ])
            .current_dir(&dir)
            .spawn()
            .unwrap(),
    );
    let mine = procs::sleeper(&dir);
    wait_for(
        || {
            std::fs::read_to_string(format!("/proc/{}/status", theirs.pid())).is_ok_and(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.contains("65534"))
            })
        },
        "the process to run as nobody",
    );
    let ls = env.json(&repo, &["ls", "--json"]);
    let listed = pids(slot(&ls, "shared"));
    assert_eq!(listed, [mine.pid() as u64], "only this user's: {ls:#}");
    // Nor does it stop rm: it is not this user's to stop.
    env.ok(&repo, &["rm", "--kill", "shared"]);
    assert!(alive(theirs.pid()), "another user's process is left alone");
}

#[test]
fn git_agent_ls_run_through_git_is_not_the_main_worktrees_process() {
    let env = Env::new();
    let repo = procs::repo_with_free_ports(&env, "web");
    env.ok(&repo, &["add", "site"]);
    // `git agent ls` as users type it: git runs git-agent, both standing in the main worktree.
    let out = env.run_git_agent(&repo, &["ls"]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let main = table
        .lines()
        .find(|l| l.contains("(main)"))
        .unwrap_or_else(|| panic!("no main row: {table}"));
    assert!(
        !table.lines().next().unwrap().contains("AGENT") && !main.contains("git"),
        "the command itself is nobody's agent:\n{table}"
    );
}

/// A process group started for a test, killed whole when the test ends (also on a panic).
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn a_dev_server_started_through_git_agent_exec_and_a_launcher_is_a_server_not_an_agent() {
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let repo = procs::repo_with_free_ports(&env, "web");
    env.ok(&repo, &["add", "site"]);
    env.ok(&repo, &["add", "tests"]);
    let port = procs::port_of(&env, &repo, "site");
    // `npm run dev` as it looks from outside: a launcher that starts the process that listens.
    let npm = script(
        &env.root().join("bin"),
        "npm",
        "#!/bin/sh\npython3 -m http.server \"$PORT\" --bind 127.0.0.1\n",
    );
    let start = |slot: &str, program: &std::path::Path| {
        let mut cmd = Command::new("git");
        env.isolate(&mut cmd);
        cmd.current_dir(slot_dir(&repo, slot))
            .args(["agent", "exec", "--"])
            .arg(program)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        Group(cmd.spawn().unwrap())
    };
    // In the user's terminal, in the slot: `git agent exec -- npm run dev`.
    let _server = start("site", &npm);
    wait_for(
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the server to listen",
    );
    // In another slot, a test run through `git agent exec`: that is what works there.
    let worker = script(
        &env.root().join("bin"),
        "pytest",
        "#!/bin/sh\nexec sleep 600\n",
    );
    let _worker = start("tests", &worker);
    let ls = env.json(&repo, &["ls", "--json"]);
    let site = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "site")
        .unwrap();
    let names: Vec<&str> = site["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"git") && names.contains(&"npm") && names.contains(&"http.server"),
        "{site:#}"
    );
    assert_eq!(site["agent"], serde_json::Value::Null, "{site:#}");
    assert_eq!(site["listening"]["PORT"], true, "{site:#}");
    wait_for(
        || {
            let ls = env.json(&repo, &["ls", "--json"]);
            let tests = ls
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == "tests")
                .cloned();
            tests.is_some_and(|t| t["agent"] == "sleep")
        },
        "the test run to be what works in its slot, not git",
    );
}
