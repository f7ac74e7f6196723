//! Claude Code's `claude --worktree NAME` makes a git-agent slot through its WorktreeCreate and
//! WorktreeRemove hooks. The payloads are fed as Claude Code sends them, one JSON object with
//! stdin left open, through the exact command `git agent claude install` wrote into
//! `.claude/settings.local.json`, run with `sh -c` as Claude Code runs hooks.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Env, text};

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `command` with `sh -c` in `dir`, writes `payload` on its stdin and leaves stdin open
/// until it exits: a handler that waited for end-of-file would hang here, and fails the test.
fn hook(env: &Env, dir: &Path, command: &str, payload: &Value) -> Ran {
    let mut cmd = Command::new("sh");
    env.isolate(&mut cmd);
    let mut child = cmd
        .args(["-c", command])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(payload.to_string().as_bytes()).unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the hook `{command}` waited for stdin to close");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Ran {
        code: out.status.code(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// The command of `event` in the settings file.
fn command_of(settings: &Value, event: &str) -> String {
    let groups = settings["hooks"][event].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{event}: {settings:#}");
    groups[0]["hooks"][0]["command"]
        .as_str()
        .unwrap()
        .to_string()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn setup() -> (Env, PathBuf, Value) {
    let env = Env::new();
    let repo = env.repo("app");
    // What is there already stays: permissions and another hook.
    std::fs::create_dir_all(repo.join(".claude")).unwrap();
    let settings = repo.join(".claude/settings.local.json");
    std::fs::write(
        &settings,
        r#"{"permissions": {"allow": ["Bash(npm test)"]},
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}]}}"#,
    )
    .unwrap();
    let out = env.run(&repo, &["claude", "install"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
    let written = read(&settings);
    assert_eq!(written["permissions"]["allow"][0], "Bash(npm test)");
    assert_eq!(written["hooks"]["PreToolUse"][0]["matcher"], "Bash");
    (env, repo, written)
}

#[test]
fn install_merges_into_the_settings_and_is_idempotent() {
    let (env, repo, written) = setup();
    let settings = repo.join(".claude/settings.local.json");
    let bytes = std::fs::read(&settings).unwrap();
    let again = env.json(&repo, &["claude", "install", "--json"]);
    assert_eq!(again["changed"], false);
    assert_eq!(again["version"], 2);
    assert_eq!(again["file"], settings.display().to_string());
    assert_eq!(
        std::fs::read(&settings).unwrap(),
        bytes,
        "a second install changes nothing"
    );
    assert!(command_of(&written, "WorktreeCreate").ends_with(" claude worktree-create"));
    assert!(command_of(&written, "WorktreeRemove").ends_with(" claude worktree-remove"));
    // --print shows the result and writes nothing.
    std::fs::remove_file(&settings).unwrap();
    let printed: Value =
        serde_json::from_str(&env.ok(&repo, &["claude", "install", "--print"])).unwrap();
    assert!(!settings.exists());
    assert_eq!(
        command_of(&printed, "WorktreeCreate"),
        command_of(&written, "WorktreeCreate")
    );
    // A file that is not JSON is never overwritten.
    std::fs::write(&settings, "{ not json").unwrap();
    let err = env.fails(&repo, &["claude", "install"], 1);
    assert!(err.contains("is not valid JSON"), "{err}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{ not json");
}

#[test]
fn worktree_create_makes_a_slot_and_prints_only_its_path() {
    let (env, repo, settings) = setup();
    let create = command_of(&settings, "WorktreeCreate");
    let head = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    // As Claude Code sends it (newer versions: `name`).
    let payload = json!({
        "session_id": "abc123",
        "transcript_path": "/tmp/t.jsonl",
        "hook_event_name": "WorktreeCreate",
        "cwd": repo,
        "name": "fix-bug",
        "base_commit": head,
    });
    let ran = hook(&env, &env.root(), &create, &payload);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let slot = env.root().join("app-worktrees/fix-bug");
    assert_eq!(
        ran.stdout,
        format!("{}\n", slot.display()),
        "stdout is the path alone"
    );
    let rows = env.json(&repo, &["ls", "--json"]);
    assert_eq!(rows[0]["name"], "fix-bug");
    assert_eq!(rows[0]["branch"], "worktree-fix-bug");
    assert_eq!(rows[0]["base"], "main");
    assert!(slot.join(".env.local").is_file());
    // The same name again (a resumed session): the same slot.
    let ran = hook(&env, &env.root(), &create, &payload);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, format!("{}\n", slot.display()));
    assert_eq!(
        env.json(&repo, &["ls", "--json"]).as_array().unwrap().len(),
        1
    );

    // Older versions send `worktree_name`; a base commit off the branch is the base itself.
    env.commit(&repo, "later.txt", "later\n");
    let ran = hook(
        &env,
        &repo,
        &create,
        &json!({"hook_event_name": "WorktreeCreate", "cwd": repo, "worktree_name": "older", "base_commit": head}),
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let older = env.root().join("app-worktrees/older");
    assert_eq!(ran.stdout, format!("{}\n", older.display()));
    let slot_json = env.json(&repo, &["env", "older", "--json"]);
    assert_eq!(slot_json["base"], head);
    assert_eq!(
        env.git(&older, &["rev-parse", "HEAD"]).trim(),
        head,
        "the slot starts at base_commit"
    );

    // A payload without a name: an error on stderr, nothing on stdout.
    let ran = hook(&env, &repo, &create, &json!({"cwd": repo}));
    assert_eq!(ran.code, Some(1));
    assert!(ran.stdout.is_empty());
    assert!(ran.stderr.contains("no `name`"), "{}", ran.stderr);
}

#[test]
fn worktree_remove_keeps_rms_safety() {
    let (env, repo, settings) = setup();
    let create = command_of(&settings, "WorktreeCreate");
    let remove = command_of(&settings, "WorktreeRemove");
    let ran = hook(
        &env,
        &repo,
        &create,
        &json!({"cwd": repo, "name": "feature"}),
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let slot = PathBuf::from(ran.stdout.trim());
    std::fs::write(slot.join("notes.txt"), "unsaved\n").unwrap();
    let payload = json!({"hook_event_name": "WorktreeRemove", "cwd": repo, "worktree_path": slot});
    // Work would be lost: refused (exit 3), said why, nothing removed.
    let ran = hook(&env, &repo, &remove, &payload);
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("untracked file") && ran.stderr.contains("notes.txt"),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty());
    assert!(slot.join("notes.txt").is_file());
    // Saved: removed, with its branch (merged, made by git-agent).
    std::fs::remove_file(slot.join("notes.txt")).unwrap();
    let ran = hook(&env, &slot, &remove, &payload);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(!slot.exists());
    assert_eq!(
        env.git(&repo, &["branch", "--list", "worktree-feature"]),
        ""
    );
    // A worktree that is not a slot is left alone.
    let other = env.root().join("by-hand");
    env.worktree_add(&repo, "hand", &other);
    let ran = hook(
        &env,
        &repo,
        &remove,
        &json!({"cwd": repo, "worktree_path": other}),
    );
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("is not a git-agent slot"),
        "{}",
        ran.stderr
    );
    assert!(other.is_dir());
}
