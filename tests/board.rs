//! The board as people see it: `git agent ls` in a real terminal (a pty) of 80, 100 and 200
//! columns, with colours and without (`NO_COLOR`), in a non-UTF-8 locale, piped, and
//! `ls --watch` redrawing in place until Ctrl-C.

#[path = "support/procs.rs"]
mod procs;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::{ControlCode, Expect, Session};
use procs::{Running, agent, http_server, slot_dir};
use support::{Env, text};

/// `git agent ARGS` in a terminal `cols` wide, started in `dir`; what it printed (with `\r`
/// taken out).
fn in_terminal(env: &Env, dir: &Path, cols: u16, args: &str, vars: &[(&str, &str)]) -> String {
    let mut session = spawn(env, dir, cols, args, vars);
    let out = session.expect(expectrl::Eof).unwrap();
    let text = String::from_utf8_lossy(out.as_bytes()).replace('\r', "");
    let _ = session.get_process().wait();
    text
}

/// Starts `git agent ARGS` in a pty of `cols` columns and 40 rows. The size is set from
/// outside once the child is waiting, and the child checks it before running git-agent.
fn spawn(env: &Env, dir: &Path, cols: u16, args: &str, vars: &[(&str, &str)]) -> OsSession {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "stty -echo; echo ready; read go; [ \"$(stty size)\" = '40 {cols}' ] || exit 99; echo go; exec git-agent {args}"
    ));
    env.isolate(&mut cmd);
    cmd.current_dir(dir)
        .env("PWD", dir)
        .env("TERM", "xterm-256color")
        .env("LC_ALL", "C.UTF-8")
        .env_remove("NO_COLOR");
    cmd.envs(vars.iter().copied());
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(30)));
    session.expect("ready").unwrap();
    session.get_process_mut().set_window_size(cols, 40).unwrap();
    session.send_line("go").unwrap();
    session.expect("go\r\n").unwrap();
    session
}

/// The board tests start busy processes: one test at a time, so that they get the CPU they
/// ask for on a machine of two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The text without terminal escape sequences.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn widest(text: &str) -> usize {
    plain(text)
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
}

/// Three slots, each with an agent at work (one also serving on its port), with tasks, one
/// with a commit of its own and one with an edit.
struct Busy {
    env: Env,
    repo: PathBuf,
    port: u16,
    _running: Vec<Running>,
    // Last: the next test starts once these processes are gone.
    _serial: std::sync::MutexGuard<'static, ()>,
}

fn three_busy_slots() -> Busy {
    let serial = serial();
    let env = Env::new();
    let repo = procs::repo_with_free_ports(&env, "shop");
    let tasks = [
        (
            "feature/auth",
            "Add OAuth login with Google and GitHub, with tests for both",
        ),
        (
            "fix/billing",
            "Fix rounding of invoice totals in multi-currency carts",
        ),
        (
            "docs/api",
            "Document the public REST API with examples for every endpoint",
        ),
    ];
    for (branch, task) in tasks {
        env.ok(&repo, &["add", branch, "--task", task]);
    }
    env.commit(
        &slot_dir(&repo, "fix-billing"),
        "rounding.txt",
        "half-even\n",
    );
    std::fs::write(slot_dir(&repo, "docs-api").join("API.md"), "# API\n").unwrap();
    let (server, port) = http_server(&env, &repo, "feature-auth");
    let running = vec![
        server,
        agent(
            &env,
            "claude",
            &slot_dir(&repo, "feature-auth").join("src"),
            true,
        ),
        agent(&env, "codex", &slot_dir(&repo, "fix-billing"), true),
        agent(
            &env,
            "aider",
            &slot_dir(&repo, "docs-api").join("docs"),
            true,
        ),
    ];
    Busy {
        _serial: serial,
        env,
        repo,
        port,
        _running: running,
    }
}

fn line<'a>(board: &'a str, needle: &str) -> &'a str {
    board
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}:\n{board}"))
}

#[test]
fn a_100_column_terminal_shows_every_slots_agent_servers_git_state_and_task() {
    let b = three_busy_slots();
    let here = slot_dir(&b.repo, "fix-billing");
    let out = in_terminal(&b.env, &here, 100, "ls", &[]);
    let board = plain(&out);
    assert!(widest(&out) <= 100, "no line wraps:\n{board}");
    let rows: Vec<&str> = board.lines().collect();
    assert!(
        rows[0].contains("SLOT") && rows[1].contains("(main)"),
        "main first:\n{board}"
    );
    let auth = line(&board, "feature-auth");
    assert!(auth.contains("claude busy"), "{board}");
    assert!(auth.contains(&format!("http.server:{}", b.port)), "{board}");
    assert!(
        auth.contains("clean") && auth.contains("Add OAuth"),
        "{board}"
    );
    let billing = line(&board, "fix-billing");
    assert!(
        billing.starts_with("▶ fix-billing"),
        "the slot you stand in: {board}"
    );
    assert!(
        billing.contains("codex busy") && billing.contains("clean ↑1"),
        "{board}"
    );
    assert!(billing.contains("Fix rounding"), "{board}");
    let docs = line(&board, "docs-api");
    assert!(
        docs.contains("aider busy") && docs.contains("dirty(1)"),
        "{board}"
    );
    assert!(docs.contains("Document the"), "{board}");
    // The default SQLite file of every slot says nothing: no DATABASE column.
    assert!(!rows[0].contains("DATABASE"), "{board}");
    // Colours by state: busy agents green, a dirty tree yellow.
    assert!(out.contains("\x1b[32mcodex busy\x1b[0m"), "{out:?}");
    assert!(out.contains("\x1b[33mdirty(1)\x1b[0m"), "{out:?}");
}

#[test]
fn at_80_columns_columns_go_in_order_and_at_200_all_show() {
    let b = three_busy_slots();
    let narrow = in_terminal(&b.env, &b.repo, 80, "ls", &[]);
    let narrow_board = plain(&narrow);
    assert!(widest(&narrow) <= 80, "{narrow_board}");
    let header = narrow_board.lines().next().unwrap();
    for kept in ["SLOT", "AGENT", "SERVERS", "GIT", "TASK"] {
        assert!(header.contains(kept), "{kept} stays: {narrow_board}");
    }
    for dropped in ["PATH", "PORTS", "BRANCH"] {
        assert!(
            !header.contains(dropped),
            "{dropped} goes first: {narrow_board}"
        );
    }
    assert!(
        line(&narrow_board, "docs-api").contains("…"),
        "the task is shortened: {narrow_board}"
    );

    let wide = in_terminal(&b.env, &b.repo, 200, "ls", &[]);
    let wide_board = plain(&wide);
    assert!(widest(&wide) <= 200, "{wide_board}");
    let header = wide_board.lines().next().unwrap();
    for shown in [
        "SLOT", "BRANCH", "AGENT", "SERVERS", "GIT", "LAND", "ACTIVE", "TASK", "PORTS", "PATH",
    ] {
        assert!(header.contains(shown), "{shown}: {wide_board}");
    }
    assert!(
        line(&wide_board, "(main)").starts_with("▶ (main)"),
        "{wide_board}"
    );
    assert!(
        line(&wide_board, "docs-api").contains("Document the public REST API with"),
        "{wide_board}"
    );
    assert!(
        line(&wide_board, "feature-auth").contains(&format!("{}*", b.port)),
        "{wide_board}"
    );
}

#[test]
fn no_color_a_non_utf8_locale_and_a_pipe() {
    let b = three_busy_slots();
    let here = slot_dir(&b.repo, "fix-billing");
    let uncoloured = in_terminal(&b.env, &here, 100, "ls", &[("NO_COLOR", "1")]);
    assert!(
        !uncoloured.contains("\x1b["),
        "NO_COLOR: no escapes: {uncoloured:?}"
    );
    assert!(widest(&uncoloured) <= 100);

    let ascii = in_terminal(&b.env, &here, 100, "ls", &[("LC_ALL", "C")]);
    let board = plain(&ascii);
    assert!(board.is_ascii(), "a non-UTF-8 locale gets ASCII:\n{board}");
    assert!(
        line(&board, "fix-billing").starts_with("> fix-billing"),
        "{board}"
    );
    assert!(line(&board, "fix-billing").contains("clean ^1"), "{board}");
    assert!(line(&board, "docs-api").contains("..."), "{board}");

    // Piped: plain, every column, nothing cut, absolute paths, the same every time.
    let mut cmd = b.env.cmd(&here);
    let out = cmd.arg("ls").env("LC_ALL", "C.UTF-8").output().unwrap();
    let piped = text(&out.stdout);
    assert!(!piped.contains('\x1b'), "{piped:?}");
    assert!(piped.lines().next().unwrap().contains("PATH"), "{piped}");
    assert!(
        piped.contains("Document the public REST API with examples for every endpoint"),
        "{piped}"
    );
    assert!(
        piped.contains(&slot_dir(&b.repo, "docs-api").display().to_string()),
        "{piped}"
    );
    assert!(
        piped.lines().any(|l| l.starts_with("▶ fix-billing")),
        "{piped}"
    );
}

#[test]
fn watch_redraws_in_place_and_ctrl_c_exits_130() {
    let _serial = serial();
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "first", "--task", "The first task"]);
    let mut session = spawn(&env, &repo, 100, "ls --watch", &[]);
    session.expect("The first task").unwrap();
    // A slot added meanwhile shows at once, without waiting for the next refresh.
    env.ok(&repo, &["add", "second", "--task", "The second task"]);
    session.expect("The second task").unwrap();
    // An edit in a slot shows at the next refresh; only the changed line is rewritten.
    std::fs::write(slot_dir(&repo, "first").join("notes.md"), "x\n").unwrap();
    let redrawn = session.expect("dirty(1)").unwrap();
    let before = String::from_utf8_lossy(redrawn.before()).into_owned();
    assert!(
        !before.contains("\x1b[2J"),
        "no clearing of the screen: {before:?}"
    );
    session.send(ControlCode::EndOfText).unwrap();
    let rest = session.expect(expectrl::Eof).unwrap();
    assert!(
        String::from_utf8_lossy(rest.as_bytes()).contains("\x1b[?1049l"),
        "the terminal's own screen comes back"
    );
    match session.get_process().wait().unwrap() {
        WaitStatus::Exited(_, code) => assert_eq!(code, 130),
        other => panic!("{other:?}"),
    }
}
