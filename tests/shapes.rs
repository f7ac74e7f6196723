//! Repositories as people have them, built in temp dirs: bare ones (`git clone --bare`, alone
//! and in the `.bare` + worktrees layout), submodules, a detached HEAD, an empty repository
//! and a remote branch not fetched yet. None of them gives a raw git error.

mod support;

use std::path::{Path, PathBuf};

use support::{Env, text};

/// A source repository with a template that gives slots port 5000 + k, so a slot's port says
/// which template was read.
fn source(env: &Env) -> PathBuf {
    let src = env.repo("src");
    env.commit(&src, ".git-agent.toml", "[ports]\nPORT = 5000\n");
    src
}

fn clone_bare(env: &Env, src: &Path, dest: &Path) {
    env.git(
        &env.root(),
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            dest.to_str().unwrap(),
        ],
    );
}

/// Every command on a slot of a bare repository, run from `dir` (a worktree or the bare
/// directory); `expected` is where the slot must land.
fn every_command(env: &Env, dir: &Path, expected: &Path) {
    let out = env.run(dir, &["add", "bx", "--json"]);
    assert!(
        out.status.success(),
        "add in {}: {}",
        dir.display(),
        text(&out.stderr)
    );
    let slot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(slot["path"], expected.display().to_string());
    assert_eq!(slot["ports"]["PORT"], 5001, "the template was not read");
    assert_eq!(slot["base"], "main");
    assert!(expected.join("README").is_file());

    let rows = env.json(dir, &["ls", "--json"]);
    assert_eq!(rows[0]["name"], "bx");
    assert_eq!(rows[0]["git"]["dirty"], false);
    assert_eq!(
        env.ok(expected, &["path"]).trim(),
        expected.display().to_string()
    );
    assert!(env.ok(expected, &["env"]).contains("PORT=5001"));
    assert_eq!(
        env.ok(dir, &["exec", "bx", "--", "sh", "-c", "echo $PORT; pwd"]),
        format!("5001\n{}\n", expected.display())
    );
    env.ok(dir, &["task", "bx", "--set", "work"]);
    assert_eq!(env.ok(expected, &["task"]).trim(), "work");
    assert_eq!(
        env.ok(dir, &["cd", "bx"]).trim(),
        expected.display().to_string()
    );

    // A worktree made by hand is listed, and adopted.
    let hand = expected.parent().unwrap().join("by-hand");
    env.worktree_add(dir, "hand", &hand);
    let rows = env.json(dir, &["ls", "--json"]);
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "worktree" && r["branch"] == "hand"),
        "{rows:#}"
    );
    let adopted = env.json(dir, &["adopt", hand.to_str().unwrap(), "--json"]);
    assert_eq!(adopted["ports"]["PORT"], 5002);

    let out = env.run(dir, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{report:#}");
    let repository = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "repository")
        .unwrap();
    assert!(
        repository["message"]
            .as_str()
            .unwrap()
            .contains("bare repository"),
        "{repository}"
    );

    env.ok(dir, &["rm", "bx", "hand"]);
    assert!(!expected.exists() && !hand.exists());
    // An adopted slot's branch is the user's: rm keeps it.
    env.git(dir, &["branch", "-D", "hand"]);
    env.ok(dir, &["prune"]);
    assert_eq!(env.json(dir, &["ls", "--json"]), serde_json::json!([]));
}

#[test]
fn bare_plus_worktrees_layout_puts_slots_beside_the_other_worktrees() {
    let env = Env::new();
    let src = source(&env);
    // proj/.bare holds the repository, proj/.git points at it, proj/main is a worktree.
    let proj = env.root().join("proj");
    clone_bare(&env, &src, &proj.join(".bare"));
    std::fs::write(proj.join(".git"), "gitdir: ./.bare\n").unwrap();
    env.git(&proj, &["worktree", "add", "-q", "main", "main"]);
    let main = proj.join("main");

    // doctor checks the template of the main worktree (the default branch's), not proj/.
    std::fs::write(
        main.join(".git-agent.toml"),
        "[ports]\nPORT = 5000\n[env]\nBAD = \"{nope}\"\n",
    )
    .unwrap();
    let out = env.run(&main, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let template = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "template")
        .unwrap()
        .clone();
    assert_eq!(template["level"], "error", "{report:#}");
    assert!(
        template["message"]
            .as_str()
            .unwrap()
            .contains(&main.join(".git-agent.toml").display().to_string()),
        "{template}"
    );
    env.git(&main, &["checkout", "-q", "--", ".git-agent.toml"]);

    every_command(&env, &main, &proj.join("bx"));
    // From the project directory itself (where .git points at .bare) as well.
    every_command(&env, &proj, &proj.join("bx"));
    assert!(proj.join(".bare").is_dir() && main.join("README").is_file());
}

#[test]
fn a_bare_repository_alone_gets_slots_next_to_it() {
    let env = Env::new();
    let src = source(&env);
    let bare = env.root().join("app.git");
    clone_bare(&env, &src, &bare);
    // No worktree has its default branch: the template comes from the branch itself.
    every_command(&env, &bare, &env.root().join("app-worktrees/bx"));
    // The directory that held the slots goes with the last one.
    assert!(!env.root().join("app-worktrees").exists());
    let err = env.fails(&bare, &["cd"], 1);
    assert!(err.contains("no worktree of its default branch"), "{err}");
}

/// A repository `name` with the repository `lib` as a submodule at `path`, committed.
fn superproject(env: &Env, name: &str, path: &str) -> PathBuf {
    let src = env.repo("lib");
    let sup = env.repo(name);
    env.git(
        &sup,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            src.to_str().unwrap(),
            path,
        ],
    );
    env.git(&sup, &["commit", "-q", "-m", "add lib"]);
    sup
}

#[test]
fn a_submodule_gets_slots_outside_the_superproject_and_rm_works_from_inside_one() {
    let env = Env::new();
    let sup = superproject(&env, "super", "lib");
    let sub = sup.join("lib");
    let path = env.ok(&sub, &["add", "sx", "--no-cd"]);
    let slot = env.root().join("super-lib-worktrees/sx");
    assert_eq!(path.trim(), slot.display().to_string());
    assert!(slot.join("README").is_file());
    assert_eq!(
        env.git(&sup, &["status", "--porcelain", "--untracked-files=all"]),
        "",
        "the superproject sees the slot"
    );
    let out = env.run(&sub, &["doctor"]);
    assert!(
        text(&out.stdout).contains("is a submodule of"),
        "{}",
        text(&out.stdout)
    );
    // Standing in the slot: its directory goes, and git is never started in it afterwards.
    let out = env.run(&slot, &["rm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("not installed"));
    assert!(!slot.exists());
    assert_eq!(env.json(&sub, &["ls", "--json"]), serde_json::json!([]));
    assert!(!env.root().join("super-lib-worktrees").exists());
}

#[test]
fn starting_git_in_a_deleted_directory_names_that_cause() {
    let env = Env::new();
    let gone = env.root().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let cmd = git_agent::git::git_in(&gone);
    std::fs::remove_dir(&gone).unwrap();
    let err = format!("{:#}", git_agent::git::run(cmd).unwrap_err());
    assert!(
        err.contains("does not exist") && err.contains(&gone.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("not installed"), "{err}");
    // git-agent itself, run from a directory deleted under the shell.
    std::fs::create_dir(&gone).unwrap();
    let mut cmd = std::process::Command::new("sh");
    env.isolate(&mut cmd);
    let out = cmd
        .current_dir(&gone)
        .args(["-c", "rmdir \"$PWD\" && exec git-agent ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("deleted"), "{err}");
    assert!(!err.contains("not installed"), "{err}");
}

#[test]
fn a_detached_head_base_is_the_commit_and_the_branch_it_came_from() {
    let env = Env::new();
    let repo = env.repo("app");
    env.git(&repo, &["checkout", "-q", "--detach"]);
    let head = env.git(&repo, &["rev-parse", "HEAD"]).trim().to_string();
    let out = env.run(&repo, &["add", "dx", "--json", "--no-cd"]);
    let slot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(slot["base"], head);
    assert_eq!(slot["base_from"], "main");
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!(
            "base commit {} (a detached HEAD, from main)",
            &head[..8]
        )),
        "{said}"
    );
    let dir = PathBuf::from(slot["path"].as_str().unwrap());
    env.commit(&dir, "work.txt", "unmerged\n");
    // ls counts the commit, from anywhere (HEAD differs in the slot and the main worktree).
    for from in [&repo, &dir] {
        let rows = env.json(from, &["ls", "--json"]);
        assert_eq!(rows[0]["git"]["ahead"], 1, "from {}", from.display());
    }
    let table = env
        .cmd(&repo)
        .arg("ls")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        text(&table.stdout).contains("clean ^1"),
        "{}",
        text(&table.stdout)
    );
    // rm refuses, naming the commit, not "HEAD".
    let err = env.fails(&dir, &["rm"], 3);
    assert!(
        err.contains(&format!("not merged into commit {}", &head[..8]))
            && !err.contains("into HEAD"),
        "{err}"
    );
    // Merged into the branch the HEAD came from, it goes without --force.
    env.git(&repo, &["checkout", "-q", "main"]);
    env.git(&repo, &["merge", "-q", "--ff-only", "dx"]);
    env.ok(&repo, &["rm", "dx"]);
    assert!(!dir.exists());
    let doctor = env.run(&repo, &["doctor"]);
    assert!(!text(&doctor.stdout).contains("detached"));
    env.git(&repo, &["checkout", "-q", "--detach"]);
    let doctor = env.run(&repo, &["doctor"]);
    assert!(
        text(&doctor.stdout).contains("HEAD is detached at"),
        "{}",
        text(&doctor.stdout)
    );
}

#[test]
fn an_empty_repository_says_to_make_the_first_commit() {
    let env = Env::new();
    let repo = env.root().join("empty");
    std::fs::create_dir(&repo).unwrap();
    env.git(&repo, &["init", "-q", "-b", "main"]);
    let err = env.fails(&repo, &["add", "x"], 1);
    assert!(
        err.contains("no commits yet") && err.contains("git commit --allow-empty"),
        "{err}"
    );
    assert!(!err.contains("is not a branch, tag or commit"), "{err}");
    assert!(!env.root().join("empty-worktrees").exists());
    assert_eq!(env.json(&repo, &["ls", "--json"]), serde_json::json!([]));
    let out = env.run(&repo, &["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "repository"
                && f["level"] == "warning"
                && f["fix"].as_str().unwrap().contains("--allow-empty")),
        "{report:#}"
    );
    env.git(
        &repo,
        &["commit", "-q", "--allow-empty", "-m", "first commit"],
    );
    env.ok(&repo, &["add", "x", "--no-cd"]);
}

#[test]
fn an_unfetched_remote_branch_says_to_fetch() {
    let env = Env::new();
    let upstream = env.repo("upstream");
    let clone = env.root().join("clone");
    env.git(
        &env.root(),
        &[
            "clone",
            "-q",
            upstream.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    env.git(&upstream, &["branch", "later"]);
    let err = env.fails(&clone, &["add", "origin/later"], 1);
    assert!(
        err.contains("git fetch origin later") && err.contains("not fetched"),
        "{err}"
    );
    assert_eq!(env.git(&clone, &["branch", "--list", "origin/*"]), "");
    env.git(&clone, &["fetch", "-q", "origin", "later"]);
    let slot = env.json(&clone, &["add", "origin/later", "--json", "--no-cd"]);
    assert_eq!(slot["branch"], "later");
}

#[test]
fn a_slot_of_a_superproject_says_its_submodules_are_empty_and_the_setup_command_fills_them() {
    let env = Env::new();
    let sup = superproject(&env, "app", "vendor/lib");
    let out = env.run(&sup, &["add", "one", "--no-cd"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let slot = PathBuf::from(text(&out.stdout).trim());
    assert!(
        err.contains("submodules empty in a new worktree (vendor/lib)")
            && err.contains("git submodule update --init --recursive"),
        "{err}"
    );
    // The command the note gives, as a setup command: the slot gets the submodule's files.
    env.commit(
        &sup,
        ".git-agent.toml",
        "[setup]\nrun = [\"git -c protocol.file.allow=always submodule update --init --recursive\"]\n",
    );
    env.ok(&sup, &["approve"]);
    let out = env.run(&sup, &["add", "two", "--no-cd"]);
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("submodules empty"), "{err}");
    let two = PathBuf::from(text(&out.stdout).trim());
    assert!(two.join("vendor/lib/README").is_file());
    assert!(!slot.join("vendor/lib/README").exists());
}
