//! What a newcomer meets first, the small things found on the way: the message outside a
//! repository, the base of an `add` run inside a slot, the tidy-up after the last slot, the
//! hint for `add -x`, and slot names of branches in other scripts.

mod support;

use support::{Env, text};

#[test]
fn outside_a_repository_the_error_says_it_once_as_users_type_it() {
    let env = Env::new();
    let outside = env.root().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    for command in [
        &["ls"][..],
        &["env"],
        &["add", "x"],
        &["rm", "x"],
        &["task"],
    ] {
        let out = env.run(&outside, command);
        assert_eq!(out.status.code(), Some(1), "{command:?}");
        let err = text(&out.stderr);
        assert_eq!(
            err.matches("not inside a git repository").count(),
            1,
            "{command:?}: {err}"
        );
        assert!(err.contains("`git agent`"), "{command:?}: {err}");
        assert!(!err.contains("run git-agent"), "{command:?}: {err}");
        assert!(!err.contains("could not find"), "{command:?}: {err}");
    }
}

#[test]
fn add_inside_a_slot_starts_from_that_slot_as_help_says() {
    let env = Env::new();
    let repo = env.repo("app");
    let parent =
        std::path::PathBuf::from(env.ok(&repo, &["add", "feature-auth", "--no-cd"]).trim());
    env.commit(&parent, "auth.txt", "login\n");
    let tip = env.git(&parent, &["rev-parse", "HEAD"]);
    let child = env.json(&parent, &["add", "child", "--json", "--no-cd"]);
    assert_eq!(child["base"], "feature-auth");
    let dir = std::path::PathBuf::from(child["path"].as_str().unwrap());
    assert_eq!(env.git(&dir, &["rev-parse", "HEAD"]), tip);
    let help = env.ok(&repo, &["add", "--help"]);
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("what the worktree you stand in has checked out"),
        "{help}"
    );
    // From the main worktree, its branch.
    let other = env.json(&repo, &["add", "other", "--json", "--no-cd"]);
    assert_eq!(other["base"], "main");
}

#[test]
fn rm_of_the_last_slot_leaves_no_empty_slots_directory() {
    let env = Env::new();
    let repo = env.repo("app");
    env.ok(&repo, &["add", "one", "--no-cd"]);
    env.ok(&repo, &["add", "two", "--no-cd"]);
    let holder = env.root().join("app-worktrees");
    env.ok(&repo, &["rm", "one"]);
    assert!(holder.is_dir(), "slot two is still in it");
    env.ok(&repo, &["rm", "two"]);
    assert!(!holder.exists(), "{} is left empty", holder.display());
    // A directory of the user's that holds other things stays.
    env.ok(&repo, &["add", "three", "--no-cd"]);
    std::fs::write(holder.join("notes.txt"), "mine\n").unwrap();
    env.ok(&repo, &["rm", "three"]);
    assert!(holder.join("notes.txt").is_file());
}

#[test]
fn a_dash_word_after_add_or_exec_gets_a_tip_that_fits() {
    let env = Env::new();
    let repo = env.repo("app");
    for (command, what) in [("add", "a branch or slot name"), ("exec", "a slot name")] {
        let err = env.fails(&repo, &[command, "-weird"], 2);
        assert!(!err.contains("use '-- -w'"), "{command}: {err}");
        assert!(
            err.contains(&format!("{what} cannot start with '-'"))
                && err.contains("after `--` come the command to run"),
            "{command}: {err}"
        );
        assert!(err.contains("Usage:"), "{err}");
    }
    // Elsewhere clap's own tip stays (after `--` a word is a plain value there).
    let err = env.fails(&repo, &["rm", "-weird"], 2);
    assert!(err.contains("-- -w"), "{err}");
}

#[test]
fn branches_in_other_scripts_get_readable_slot_names() {
    let env = Env::new();
    let repo = env.repo("app");
    for (branch, name) in [
        ("日本語", "日本語"),
        ("修正/ログイン", "修正-ログイン"),
        ("fix/ünïcode", "fix-ünïcode"),
    ] {
        let slot = env.json(&repo, &["add", branch, "--json", "--no-cd"]);
        assert_eq!(slot["name"], name, "{branch}");
        assert_eq!(slot["env"]["GIT_AGENT_SLOT"], name);
        let dir = env.root().join("app-worktrees").join(name);
        assert_eq!(slot["path"], dir.display().to_string());
        assert!(dir.join("README").is_file());
        // Typed back as a slot name.
        assert_eq!(
            env.ok(&repo, &["path", name]).trim(),
            dir.display().to_string()
        );
        assert_eq!(
            env.ok(
                &repo,
                &["exec", name, "--", "sh", "-c", "echo $GIT_AGENT_SLOT"]
            ),
            format!("{name}\n")
        );
    }
    env.ok(&repo, &["rm", "日本語", "修正-ログイン", "fix/ünïcode"]);
}
