//! Worktrees git-agent did not make are on the board, with the command that adopts them (a
//! Claude Code one made by hand with git, as `claude --worktree NAME` makes it), and the slot
//! you stand in is the default SLOT of every command that takes one.

mod support;

use std::path::{Path, PathBuf};

use support::{Env, text};

fn slot_dir(env: &Env, repo: &str, slot: &str) -> PathBuf {
    env.root().join(format!("{repo}-worktrees")).join(slot)
}

/// `.claude/worktrees/NAME` on branch `worktree-NAME`, as Claude Code makes it.
fn claude_worktree(env: &Env, repo: &Path, name: &str) -> PathBuf {
    let path = repo.join(".claude/worktrees").join(name);
    env.worktree_add(repo, &format!("worktree-{name}"), &path);
    path
}

#[test]
fn other_tools_worktrees_are_on_the_board_with_the_adopt_hint() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "feat", "--no-cd"]);
    let claude = claude_worktree(&env, &repo, "fix-bug");
    let plain = env.root().join("by-hand");
    env.worktree_add(&repo, "by-hand", &plain);

    // ls: the slot, then both others, each with what made it and how to adopt it.
    let board = env.ok(&repo, &["ls"]);
    assert!(board.contains("feat"), "{board}");
    assert!(board.contains("git agent adopt PATH"), "{board}");
    let line = |needle: &str| {
        board
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}: {board}"))
            .to_string()
    };
    assert!(
        line(".claude/worktrees/fix-bug").contains("Claude Code"),
        "{board}"
    );
    assert!(line("by-hand").contains("by-hand"), "{board}");
    let rows = env.json(&repo, &["ls", "--json"]);
    let others: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "worktree")
        .collect();
    assert_eq!(others.len(), 2, "{rows:#}");
    let c = others
        .iter()
        .find(|o| o["made_by"] == "claude-code")
        .unwrap();
    assert_eq!(c["name"], "fix-bug");
    assert_eq!(c["branch"], "worktree-fix-bug");
    assert_eq!(c["path"], claude.display().to_string());
    assert!(c["adopt"].as_str().unwrap().starts_with("git agent adopt "));

    // env and task inside one: what it is, and the command that makes it a slot.
    let err = env.fails(&claude, &["env"], 2);
    assert!(
        err.contains("made by Claude Code") && err.contains("git agent adopt"),
        "{err}"
    );
    let err = env.fails(&plain, &["task"], 2);
    assert!(
        err.contains("not a slot") && err.contains("git agent adopt"),
        "{err}"
    );
    assert!(err.contains("`git agent task SLOT`"), "{err}");

    // doctor inside one warns and names the fix; from the main worktree it lists them.
    let out = env.run(&claude, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let here: Vec<_> = findings
        .iter()
        .filter(|f| f["check"] == "worktree")
        .collect();
    assert_eq!(here.len(), 2, "{report:#}");
    let warned = here.iter().find(|f| f["level"] == "warning").unwrap();
    assert!(warned["message"].as_str().unwrap().contains("you are in"));
    assert!(warned["fix"].as_str().unwrap().contains("git agent adopt"));
    let text_report = env.run(&repo, &["doctor"]);
    assert!(
        text(&text_report.stdout).contains("by-hand")
            && text(&text_report.stdout).contains("fix: git agent adopt"),
        "{}",
        text(&text_report.stdout)
    );

    // adopt names the Claude Code worktree by its own name, not its branch.
    let adopted = env.json(&repo, &["adopt", claude.to_str().unwrap(), "--json"]);
    assert_eq!(adopted["name"], "fix-bug");
    assert_eq!(adopted["branch"], "worktree-fix-bug");
    let rows = env.json(&repo, &["ls", "--json"]);
    assert_eq!(
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "worktree")
            .count(),
        1
    );
}

#[test]
fn the_slot_you_stand_in_is_the_default_slot() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "one", "--no-cd", "--task", "first"]);
    env.ok(&repo, &["add", "two", "--no-cd"]);
    let one = slot_dir(&env, "app", "one");
    let sub = one.join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();

    assert_eq!(env.ok(&sub, &["path"]).trim(), one.display().to_string());
    assert_eq!(env.ok(&sub, &["task"]).trim(), "first");
    let pwd = env.ok(
        &sub,
        &["exec", "--", "sh", "-c", "pwd; echo $GIT_AGENT_SLOT"],
    );
    assert_eq!(pwd, format!("{}\none\n", one.display()));
    // An explicit SLOT wins.
    assert_eq!(
        env.ok(&sub, &["path", "two"]).trim(),
        slot_dir(&env, "app", "two").display().to_string()
    );
    let out = env.ok(
        &sub,
        &["exec", "two", "--", "sh", "-c", "echo $GIT_AGENT_SLOT"],
    );
    assert_eq!(out, "two\n");

    // Outside a slot, the message names the command and the slots.
    let err = env.fails(&repo, &["path"], 2);
    assert!(
        err.contains("`git agent path SLOT`") && err.contains("one, two"),
        "{err}"
    );
    let err = env.fails(&repo, &["task"], 2);
    assert!(err.contains("`git agent task SLOT`"), "{err}");
    let err = env.fails(&repo, &["rm"], 2);
    assert!(err.contains("`git agent rm SLOT`"), "{err}");

    // rm with no SLOT removes the one you stand in, with rm's safety: refused while it holds
    // work, removed once that is committed.
    std::fs::write(one.join("work.txt"), "unsaved\n").unwrap();
    let err = env.fails(&sub, &["rm"], 3);
    assert!(err.contains("untracked file"), "{err}");
    assert!(one.join("work.txt").exists());
    std::fs::remove_file(one.join("work.txt")).unwrap();
    std::fs::remove_dir_all(one.join("deep")).unwrap();
    env.ok(&one, &["rm"]);
    assert!(!one.exists());
    assert!(slot_dir(&env, "app", "two").exists());
}
