//! One verb to go: `git agent add X`, where X is an existing slot's name or branch, goes there
//! instead of failing or making a second slot; `--new` asks for a new one; a name never
//! silently means two slots. (The shell moving there, and `git agent cd -`, are tested under
//! a pty in tests/shell.rs.)

mod support;

use std::path::PathBuf;

use support::{Env, text};

fn slot_dir(env: &Env, slot: &str) -> PathBuf {
    env.root().join("app-worktrees").join(slot)
}

fn slot_count(env: &Env, repo: &std::path::Path) -> usize {
    env.json(repo, &["ls", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "slot")
        .count()
}

#[test]
fn add_of_an_existing_slot_goes_there() {
    let env = Env::new();
    let repo = env.repo("app");
    let auth = slot_dir(&env, "feature-auth");
    assert_eq!(
        env.ok(&repo, &["add", "feature/auth", "--no-cd"]).trim(),
        auth.display().to_string()
    );
    // By name and by branch: the path, no second slot.
    for name in ["feature-auth", "feature/auth"] {
        let out = env.run(&repo, &["add", name]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), auth.display().to_string());
        assert!(
            text(&out.stderr).contains("slot feature-auth exists"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!slot_dir(&env, "feature-auth-2").exists());
    assert_eq!(slot_count(&env, &repo), 1);
    let json = env.json(&repo, &["add", "feature-auth", "--json"]);
    assert_eq!(json["created"], false);
    assert_eq!(json["name"], "feature-auth");
    // -- CMD runs in it (after the path, as for a new slot).
    let out = env.ok(
        &repo,
        &[
            "add",
            "feature-auth",
            "--",
            "sh",
            "-c",
            "echo $GIT_AGENT_SLOT; pwd",
        ],
    );
    assert_eq!(out, format!("{0}\nfeature-auth\n{0}\n", auth.display()));

    // A slot's branch that is not its name: `add nested` used to be an error.
    env.ok(&repo, &["add", "nested", "--name", "other", "--no-cd"]);
    assert_eq!(
        env.ok(&repo, &["add", "nested"]).trim(),
        slot_dir(&env, "other").display().to_string()
    );

    // --new asks for a new slot: naming an existing one is an error, nothing is made.
    let err = env.fails(&repo, &["add", "--new", "feature-auth"], 2);
    assert!(
        err.contains("is slot feature-auth") && err.contains("--new"),
        "{err}"
    );
    // A flag that only shapes a new slot says so.
    let err = env.fails(&repo, &["add", "feature-auth", "--from", "main"], 2);
    assert!(err.contains("--from is for a new slot"), "{err}");
    // A name that is another slot's branch would make that word mean two slots.
    let err = env.fails(&repo, &["add", "fresh", "--name", "nested"], 2);
    assert!(err.contains("would mean two slots"), "{err}");
    assert_eq!(slot_count(&env, &repo), 2);

    // --new with a fresh branch makes one.
    let made = env.json(&repo, &["add", "--new", "fresh", "--json", "--no-cd"]);
    assert_eq!(made["created"], true);
    assert_eq!(slot_count(&env, &repo), 3);
}

/// A name derived from a branch that is taken: the new slot gets another name, said on stderr,
/// and each word still means one slot.
#[test]
fn a_taken_name_is_said_and_never_shared() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "feature-auth", "--no-cd"]);
    let out = env.run(&repo, &["add", "feature/auth", "--no-cd"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("was taken by another slot, so this one is feature-auth-2"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        env.ok(&repo, &["path", "feature-auth"]).trim(),
        slot_dir(&env, "feature-auth").display().to_string()
    );
    assert_eq!(
        env.ok(&repo, &["path", "feature/auth"]).trim(),
        slot_dir(&env, "feature-auth-2").display().to_string()
    );

    // Records from before, where one word is a slot's name and another's branch: the name
    // wins, and it is said.
    let record = repo.join(".git/agent/slots/feature-auth-2.toml");
    let text_before = std::fs::read_to_string(&record).unwrap();
    std::fs::write(
        &record,
        text_before.replace("branch = \"feature/auth\"", "branch = \"feature-auth\""),
    )
    .unwrap();
    let out = env.run(&repo, &["path", "feature-auth"]);
    assert_eq!(
        text(&out.stdout).trim(),
        slot_dir(&env, "feature-auth").display().to_string()
    );
    assert!(
        text(&out.stderr).contains("slot feature-auth-2 has branch feature-auth"),
        "{}",
        text(&out.stderr)
    );
}
