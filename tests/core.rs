//! The core slot lifecycle: add, ls, env, exec, path, rm, prune, on real repositories.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use support::{Env, text};

fn registry(env: &Env) -> serde_json::Value {
    let text = std::fs::read_to_string(env.state_dir().join("registry.json"))
        .unwrap_or_else(|_| "{\"slots\":[]}".into());
    serde_json::from_str(&text).unwrap()
}

fn leased_ports(env: &Env) -> Vec<u64> {
    let reg = registry(env);
    let mut ports: Vec<u64> = reg["slots"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["ports"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    ports.sort();
    ports
}

fn branches(env: &Env, repo: &Path) -> String {
    env.git(repo, &["branch", "--list", "--format=%(refname:short)"])
}

/// Asserts that nothing of a failed `add` is left: no directory, branch, lease, record or exclude line.
fn assert_nothing_left(env: &Env, repo: &Path, dir: &Path, branch: &str) {
    assert!(!dir.exists(), "{} was left behind", dir.display());
    assert!(
        !branches(env, repo).lines().any(|b| b == branch),
        "branch {branch} was left behind"
    );
    assert!(
        leased_ports(env).is_empty(),
        "a lease was left behind: {:?}",
        leased_ports(env)
    );
    let slots = repo.join(".git/agent/slots");
    let records: Vec<_> = std::fs::read_dir(&slots)
        .map(|d| d.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert!(
        records.is_empty(),
        "a slot record was left behind: {records:?}"
    );
    let exclude = std::fs::read_to_string(repo.join(".git/info/exclude")).unwrap_or_default();
    assert!(
        !exclude.contains("/.env.local"),
        "an exclude line was left behind:\n{exclude}"
    );
    assert!(
        !text(
            &std::process::Command::new("git")
                .current_dir(repo)
                .args(["worktree", "list"])
                .output()
                .unwrap()
                .stdout
        )
        .contains(&dir.display().to_string())
    );
}

fn slot_dir(env: &Env, repo: &str, slot: &str) -> PathBuf {
    env.root().join(format!("{repo}-worktrees")).join(slot)
}

#[test]
fn two_slots_get_their_own_names_paths_ports_and_env() {
    let env = Env::new();
    let repo = env.repo("myapp");
    let a = env.ok(&repo, &["add", "feature/auth"]);
    // Also through git, as users run it.
    let out = env.run_git_agent(&repo, &["add", "feature/payments"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let b = text(&out.stdout);
    assert_eq!(
        a.trim(),
        slot_dir(&env, "myapp", "feature-auth")
            .display()
            .to_string()
    );
    assert_eq!(
        b.trim(),
        slot_dir(&env, "myapp", "feature-payments")
            .display()
            .to_string()
    );

    let ls = env.json(&repo, &["ls", "--json"]);
    let rows = ls.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "feature-auth");
    assert_eq!(rows[0]["branch"], "feature/auth");
    assert_eq!(rows[0]["state"], "ready");
    assert_eq!(rows[0]["git"]["dirty"], false);
    let port_a = rows[0]["ports"]["PORT"].as_u64().unwrap();
    let port_b = rows[1]["ports"]["PORT"].as_u64().unwrap();
    assert_eq!(rows[0]["listening"]["PORT"], false);
    assert!(port_a > 3000 && port_b > 3000 && port_a != port_b);

    let env_a = env.json(&repo, &["env", "feature-auth", "--json"]);
    let env_b = env.json(&repo, &["env", "feature/payments", "--json"]);
    assert_eq!(env_a["version"], 2);
    assert_eq!(env_a["env"]["PORT"], port_a.to_string());
    assert_eq!(env_a["env"]["GIT_AGENT_SLOT"], "feature-auth");
    // The defaults carry a short stable id: another clone named myapp gets names of its own.
    let prefix = env_a["env"]["REDIS_PREFIX"].as_str().unwrap();
    let id = prefix
        .strip_prefix("myapp:feature-auth-")
        .and_then(|p| p.strip_suffix(':'))
        .unwrap_or_else(|| panic!("{prefix}"));
    assert!(
        id.len() == 6 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{prefix}"
    );
    assert_eq!(
        env_a["env"]["COMPOSE_PROJECT_NAME"],
        format!("myapp-feature-auth-{id}")
    );
    assert!(
        env_b["env"]["COMPOSE_PROJECT_NAME"]
            .as_str()
            .unwrap()
            .starts_with("myapp-feature-payments-")
    );
    let db_a = env_a["env"]["DATABASE_URL"].as_str().unwrap();
    assert!(
        db_a.starts_with("sqlite:////") && db_a.contains("feature-auth"),
        "{db_a}"
    );
    assert_ne!(env_a["env"]["DATABASE_URL"], env_b["env"]["DATABASE_URL"]);

    // exec runs in the slot with its env; the branch is checked out there.
    let out = env.ok(
        &repo,
        &[
            "exec",
            "feature-auth",
            "--",
            "sh",
            "-c",
            "echo $PORT; pwd; git branch --show-current",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [port_a.to_string().as_str(), a.trim(), "feature/auth"]
    );
    assert_eq!(
        env.ok(&repo, &["path", "feature-payments"]).trim(),
        b.trim()
    );

    // The table shows both.
    let table = env.ok(&repo, &["ls"]);
    assert!(
        table.contains("feature-auth")
            && table.contains("feature/payments")
            && table.contains(&port_b.to_string()),
        "{table}"
    );
}

#[test]
fn template_ports_share_one_offset_and_skip_what_is_taken() {
    let env = Env::new();
    let repo = env.repo("web");
    std::fs::write(repo.join(".git-agent.toml"), "[ports]\nPORT = 3000\nAPI_PORT = 4000\n[env]\nAPI_URL = \"http://localhost:{API_PORT}/v1\"\n").unwrap();
    env.git(&repo, &["add", ".git-agent.toml"]);
    env.git(&repo, &["commit", "-qm", "template"]);
    let free_at_start = !git_agent::ports::in_use(3001) && !git_agent::ports::in_use(4001);
    let one = env.json(&repo, &["add", "one", "--json"]);
    let two = env.json(&repo, &["add", "two", "--json"]);
    let k1 = one["ports"]["PORT"].as_u64().unwrap() - 3000;
    let k2 = two["ports"]["PORT"].as_u64().unwrap() - 3000;
    assert_eq!(one["ports"]["API_PORT"].as_u64().unwrap(), 4000 + k1);
    assert_eq!(two["ports"]["API_PORT"].as_u64().unwrap(), 4000 + k2);
    assert!(k1 >= 1 && k2 > k1);
    if free_at_start {
        assert_eq!(k1, 1, "3001/4001 were free, so the first slot gets them");
    }
    assert_eq!(
        one["env"]["API_URL"],
        format!("http://localhost:{}/v1", 4000 + k1)
    );
}

#[test]
fn an_occupied_port_is_skipped_and_other_repos_do_not_reuse_leases() {
    let env = Env::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let held = listener.local_addr().unwrap().port();
    let base = held - 1;
    let config = format!("[ports]\nPORT = {base}\n");
    let first = env.repo("first");
    let second = env.repo("second");
    for repo in [&first, &second] {
        std::fs::write(repo.join(".git-agent.toml"), &config).unwrap();
    }
    let a = env.json(&first, &["add", "a", "--json"]);
    let port_a = a["ports"]["PORT"].as_u64().unwrap();
    assert_ne!(port_a, u64::from(held), "the bound port was handed out");
    assert!(port_a > u64::from(base));
    let b = env.json(&second, &["add", "b", "--json"]);
    let port_b = b["ports"]["PORT"].as_u64().unwrap();
    assert_ne!(port_b, port_a, "a second repository reused a leased port");
    assert_ne!(port_b, u64::from(held));
    // A listener on the slot's port shows in ls.
    let _server = TcpListener::bind(("127.0.0.1", port_a as u16)).unwrap();
    let ls = env.json(&first, &["ls", "--json"]);
    assert_eq!(ls[0]["listening"]["PORT"], true);
    assert_eq!(ls[0]["ports"]["PORT"], port_a);
    assert_eq!(leased_ports(&env), {
        let mut v = vec![port_a, port_b];
        v.sort();
        v
    });
}

#[test]
fn branch_names_that_map_to_one_slot_name_get_distinct_slots() {
    let env = Env::new();
    let repo = env.repo("app");
    let one = env.json(&repo, &["add", "feature-auth", "--json"]);
    let two = env.json(&repo, &["add", "feature/auth", "--json"]);
    assert_eq!(one["name"], "feature-auth");
    assert_eq!(two["name"], "feature-auth-2");
    assert_ne!(one["path"], two["path"]);
    let err = env.fails(&repo, &["add", "other", "--name", "feature-auth"], 1);
    assert!(err.contains("already exists"), "{err}");
    let err = env.fails(&repo, &["add", "x", "--name", "../evil"], 1);
    assert!(err.contains("slot name"), "{err}");
}

#[test]
fn existing_and_remote_branches() {
    let env = Env::new();
    let origin = env.repo("origin-src");
    env.git(&origin, &["branch", "remote-feature"]);
    let clone = env.root().join("clone");
    env.git(
        &env.root(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    env.git(&clone, &["branch", "local-topic"]);
    env.commit(&clone, "x.txt", "x");

    let existing = env.json(&clone, &["add", "local-topic", "--json"]);
    assert_eq!(existing["branch"], "local-topic");
    let out = env.ok(
        &clone,
        &["exec", "local-topic", "--", "git", "rev-parse", "HEAD"],
    );
    assert_eq!(
        out.trim(),
        env.git(&clone, &["rev-parse", "local-topic"]).trim()
    );

    let tracked = env.json(&clone, &["add", "origin/remote-feature", "--json"]);
    assert_eq!(tracked["branch"], "remote-feature");
    assert_eq!(
        env.git(
            &clone,
            &["rev-parse", "--abbrev-ref", "remote-feature@{upstream}"]
        )
        .trim(),
        "origin/remote-feature"
    );

    // The main worktree's branch is refused with the path where it is checked out.
    let err = env.fails(&clone, &["add", "main"], 1);
    assert!(
        err.contains("already checked out at") && err.contains(clone.to_str().unwrap()),
        "{err}"
    );
    // --from makes no sense for an existing branch, nor for an existing slot.
    env.git(&clone, &["branch", "other-topic"]);
    let err = env.fails(&clone, &["add", "other-topic", "--from", "main"], 1);
    assert!(err.contains("already exists"), "{err}");
    let err = env.fails(&clone, &["add", "local-topic", "--from", "main"], 2);
    assert!(err.contains("--from is for a new slot"), "{err}");
}

#[test]
fn new_branches_start_from_from_or_the_template_base() {
    let env = Env::new();
    let repo = env.repo("base");
    let first = env.git(&repo, &["rev-parse", "HEAD"]);
    env.git(&repo, &["branch", "develop"]);
    env.commit(&repo, "later.txt", "later");
    let s = env.json(
        &repo,
        &["add", "from-develop", "--from", "develop", "--json"],
    );
    assert_eq!(s["base"], "develop");
    assert_eq!(env.git(&repo, &["rev-parse", "from-develop"]), first);
    std::fs::write(
        repo.join(".git-agent.toml"),
        "[worktree]\nbase = \"develop\"\npath = \"../slots/{slot}\"\n",
    )
    .unwrap();
    let t = env.json(&repo, &["add", "from-template", "--json"]);
    assert_eq!(env.git(&repo, &["rev-parse", "from-template"]), first);
    assert_eq!(
        t["path"],
        env.root().join("slots/from-template").display().to_string()
    );
    let err = env.fails(&repo, &["add", "nope", "--from", "no-such-ref"], 1);
    assert!(
        err.contains("no-such-ref") && err.contains("not a branch, tag or commit"),
        "{err}"
    );
    assert!(!branches(&env, &repo).contains("nope"));
}

#[test]
fn works_from_inside_a_slot_and_with_git_dir_set() {
    let env = Env::new();
    let repo = env.repo("inner");
    let a = PathBuf::from(env.ok(&repo, &["add", "a"]).trim());
    std::fs::create_dir_all(a.join("src/deep")).unwrap();
    let b = env.ok(&a.join("src/deep"), &["add", "b"]);
    assert_eq!(b.trim(), slot_dir(&env, "inner", "b").display().to_string());
    // env with no SLOT finds the slot containing the current directory.
    let e = env.json(&a.join("src/deep"), &["env", "--json"]);
    assert_eq!(e["name"], "a");
    // git --git-dir=... agent passes GIT_DIR to us.
    let mut cmd = std::process::Command::new("git");
    env.isolate(&mut cmd);
    let out = cmd
        .current_dir(env.root())
        .arg(format!("--git-dir={}", repo.join(".git").display()))
        .args(["agent", "ls", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    // Outside any repository: a clear error.
    let err = env.fails(&env.root().join("home"), &["ls"], 1);
    assert!(err.contains("not inside a git repository"), "{err}");
}

#[test]
fn the_env_file_keeps_user_lines_and_is_excluded() {
    let env = Env::new();
    let repo = env.repo("envy");
    // A post-checkout hook that writes the user's own .env.local before git-agent adds its block.
    let hook = repo.join(".git/hooks/post-checkout");
    std::fs::write(
        &hook,
        "#!/bin/sh\nprintf '# mine\\nSECRET=\"s3 cr3t\"\\r\\nPORT=1\\n' > .env.local\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&hook).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let dir = PathBuf::from(env.ok(&repo, &["add", "hooked"]).trim());
    let content = std::fs::read_to_string(dir.join(".env.local")).unwrap();
    assert!(
        content.starts_with("# mine\nSECRET=\"s3 cr3t\"\r\nPORT=1\n# >>> git-agent"),
        "{content:?}"
    );
    // The user's lines are exported too; a later assignment (the block) wins for PORT.
    let e = env.json(&repo, &["env", "hooked", "--json"]);
    assert_eq!(e["env"]["SECRET"], "s3 cr3t");
    assert_ne!(e["env"]["PORT"], "1");
    // Not tracked, not shown as untracked.
    assert_eq!(env.git(&dir, &["status", "--porcelain"]), "");
    let exclude = std::fs::read_to_string(repo.join(".git/info/exclude")).unwrap();
    assert!(
        exclude.contains("/.env.local\n") && exclude.contains("/.git-agent/\n"),
        "{exclude}"
    );
    // A second slot does not add the lines twice.
    env.ok(&repo, &["add", "again"]);
    assert_eq!(
        std::fs::read_to_string(repo.join(".git/info/exclude"))
            .unwrap()
            .matches("/.env.local")
            .count(),
        1
    );
}

#[test]
fn a_tracked_env_file_stops_add_and_leaves_nothing() {
    let env = Env::new();
    let repo = env.repo("tracked");
    env.commit(&repo, ".env.local", "PORT=1\n");
    let err = env.fails(&repo, &["add", "feat"], 1);
    assert!(
        err.contains(".env.local is tracked by git") && err.contains("env_file"),
        "{err}"
    );
    assert!(err.contains("undone: removed the worktree"), "{err}");
    assert_nothing_left(&env, &repo, &slot_dir(&env, "tracked", "feat"), "feat");
}

#[test]
fn every_failed_step_leaves_nothing_behind() {
    let env = Env::new();
    let repo = env.repo("steps");
    for step in [
        "validate", "lease", "worktree", "exclude", "database", "envfile", "ready",
    ] {
        let out = env
            .cmd(&repo)
            .args(["add", "feat"])
            .env("GIT_AGENT_TEST_FAIL_AT", step)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "step {step}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("injected at step '{step}'")),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "step {step} printed on stdout");
        assert_nothing_left(&env, &repo, &slot_dir(&env, "steps", "feat"), "feat");
    }
    // And after all that, the same add works.
    env.ok(&repo, &["add", "feat"]);
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let env = Env::new();
    let repo = env.repo("bad");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "[env]\nURL = \"http://x:{PROT}\"\n",
            ".git-agent.toml:2: env.URL",
            &["{PROT}", "PORT"],
        ),
        (
            "[ports]\nPORT = 3000\n\n[worktre]\npath = 'x'\n",
            ".git-agent.toml:4:",
            &["worktre"],
        ),
        ("[ports]\nPORT = \"x\"\n", ".git-agent.toml:2:", &[]),
        (
            "[ports]\nPORT = 0\n",
            ".git-agent.toml:2: ports.PORT",
            &["between 1 and 65535"],
        ),
        ("[env\n", ".git-agent.toml:1:", &[]),
        (
            "[env]\nLD_PRELOAD = \"/x.so\"\n",
            ".git-agent.toml:2: env.LD_PRELOAD",
            &["allow_env"],
        ),
        (
            "[env]\n\"A-B\" = \"x\"\n",
            "env.A-B",
            &["not a valid variable name"],
        ),
        (
            "[database]\nengine = \"oracle\"\n",
            ".git-agent.toml:2:",
            &["oracle"],
        ),
    ];
    for (template, place, words) in cases {
        std::fs::write(repo.join(".git-agent.toml"), template).unwrap();
        let err = env.fails(&repo, &["add", "feat"], 1);
        assert!(err.contains(place), "template {template:?}: {err}");
        for word in *words {
            assert!(err.contains(word), "template {template:?}: {err}");
        }
        assert_nothing_left(&env, &repo, &slot_dir(&env, "bad", "feat"), "feat");
    }
    // A broken template never blocks commands on existing slots.
    std::fs::remove_file(repo.join(".git-agent.toml")).unwrap();
    env.ok(&repo, &["add", "existing"]);
    std::fs::write(repo.join(".git-agent.toml"), "[env\n").unwrap();
    env.ok(&repo, &["exec", "existing", "--", "true"]);
    env.ok(&repo, &["env", "existing"]);
    env.ok(&repo, &["rm", "existing"]);
    std::fs::remove_file(repo.join(".git-agent.toml")).unwrap();
    for branch in ["-rf", "a..b", "has space", "end.lock", "HEAD~1"] {
        let out = env.run(&repo, &["add", "--", branch]);
        assert_ne!(out.status.code(), Some(0), "{branch} was accepted");
    }
    let err = env.fails(&repo, &["add", "a b"], 1);
    assert!(err.contains("'a b' is not a valid branch name"), "{err}");
    std::fs::create_dir_all(slot_dir(&env, "bad", "taken")).unwrap();
    std::fs::write(slot_dir(&env, "bad", "taken").join("keep.txt"), "mine").unwrap();
    let err = env.fails(&repo, &["add", "taken"], 1);
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(slot_dir(&env, "bad", "taken").join("keep.txt")).unwrap(),
        "mine"
    );
    // Usage errors exit 2.
    env.fails(&repo, &["add"], 2);
    env.fails(&repo, &["exec", "x"], 2);
    env.fails(&repo, &["frobnicate"], 2);
    assert!(leased_ports(&env).is_empty());
}

#[test]
fn exec_and_add_pass_on_the_exit_status() {
    let env = Env::new();
    let repo = env.repo("status");
    let out = env.run(
        &repo,
        &[
            "add",
            "feat",
            "--",
            "sh",
            "-c",
            "echo in $GIT_AGENT_SLOT; exit 7",
        ],
    );
    assert_eq!(out.status.code(), Some(7));
    assert!(text(&out.stdout).contains("in feat"));
    assert_eq!(
        env.run(&repo, &["exec", "feat", "--", "sh", "-c", "exit 42"])
            .status
            .code(),
        Some(42)
    );
    assert_eq!(
        env.run(&repo, &["exec", "feat", "--", "true"])
            .status
            .code(),
        Some(0)
    );
    let err = env.fails(&repo, &["exec", "feat", "--", "no-such-program-xyz"], 127);
    assert!(
        err.contains("command not found: no-such-program-xyz"),
        "{err}"
    );
    let err = env.fails(&repo, &["exec", "nope", "--", "true"], 1);
    assert!(
        err.contains("no slot 'nope'") && err.contains("feat"),
        "{err}"
    );
    // The slot's env wins over the caller's.
    let out = env
        .cmd(&repo)
        .args(["exec", "feat", "--", "sh", "-c", "echo $PORT $KEEP"])
        .env("PORT", "1")
        .env("KEEP", "kept")
        .output()
        .unwrap();
    let got = text(&out.stdout);
    assert!(
        !got.starts_with("1 ") && got.trim_end().ends_with("kept"),
        "{got}"
    );
}

#[test]
fn env_output_is_safe_to_eval() {
    let env = Env::new();
    let repo = env.repo("quote");
    let nasty = "a'b\"c $(touch PWNED) `touch PWNED2` \\ 100% ünï";
    std::fs::write(
        repo.join(".git-agent.toml"),
        format!("[env]\nNASTY = '''{nasty}'''\nEMPTY = \"\"\n"),
    )
    .unwrap();
    env.ok(&repo, &["add", "q"]);
    let script = env.ok(&repo, &["env", "q", "--shell", "bash"]);
    let out = std::process::Command::new("bash")
        .current_dir(env.root())
        .args([
            "-c",
            &format!("{script}\nprintf '%s|%s|' \"$NASTY\" \"${{EMPTY-unset}}\""),
        ])
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), format!("{nasty}||"));
    assert!(!env.root().join("PWNED").exists() && !env.root().join("PWNED2").exists());
    let dotenv = env.ok(&repo, &["env", "q", "--dotenv"]);
    let parsed = git_agent::envfile::parse(&dotenv).unwrap();
    assert!(parsed.iter().any(|e| e.key == "NASTY" && e.value == nasty));
}

fn rm_refuses(env: &Env, repo: &Path, slot: &str, words: &[&str]) {
    let err = env.fails(repo, &["rm", slot], 3);
    assert!(err.contains("nothing was removed"), "{err}");
    for word in words {
        assert!(err.contains(word), "expected '{word}' in: {err}");
    }
    assert!(
        env.ok(repo, &["ls", "--json"])
            .contains(&format!("\"name\": \"{slot}\""))
    );
}

#[test]
fn rm_refuses_to_lose_work_and_removes_with_force() {
    let env = Env::new();
    let repo = env.repo("safe");
    let dir = |s: &str| slot_dir(&env, "safe", s);

    env.ok(&repo, &["add", "dirty"]);
    std::fs::write(dir("dirty").join("README"), "changed\n").unwrap();
    rm_refuses(
        &env,
        &repo,
        "dirty",
        &["1 uncommitted change: README", "--force"],
    );

    env.ok(&repo, &["add", "staged"]);
    std::fs::write(dir("staged").join("new.txt"), "n").unwrap();
    env.git(&dir("staged"), &["add", "new.txt"]);
    rm_refuses(&env, &repo, "staged", &["1 staged change: new.txt"]);

    env.ok(&repo, &["add", "untracked"]);
    std::fs::write(dir("untracked").join("notes.md"), "n").unwrap();
    rm_refuses(&env, &repo, "untracked", &["1 untracked file: notes.md"]);

    env.ok(&repo, &["add", "committed"]);
    env.commit(&dir("committed"), "work.txt", "w");
    rm_refuses(
        &env,
        &repo,
        "committed",
        &[
            "branch committed has 1 commit(s) not merged into main",
            "no upstream",
            "change work.txt",
            "--keep-branch",
        ],
    );

    // Several slots at once: nothing removed if any would lose work.
    env.ok(&repo, &["add", "clean"]);
    let err = env.fails(&repo, &["rm", "clean", "dirty"], 3);
    assert!(
        err.contains("slot dirty") && !err.contains("slot clean"),
        "{err}"
    );
    assert!(dir("clean").exists());

    // --keep-branch removes the slot and keeps the commits.
    env.ok(&repo, &["rm", "committed", "--keep-branch"]);
    assert!(!dir("committed").exists());
    assert!(branches(&env, &repo).lines().any(|b| b == "committed"));

    // --force removes; an unmerged branch survives unless --delete-branch.
    for slot in ["dirty", "staged", "untracked"] {
        env.ok(&repo, &["rm", slot, "--force"]);
        assert!(!dir(slot).exists());
    }
    // A clean, merged slot created by git-agent goes with its branch.
    env.ok(&repo, &["rm", "clean"]);
    assert!(!dir("clean").exists());
    assert!(!branches(&env, &repo).lines().any(|b| b == "clean"));
    let staged_branch = branches(&env, &repo);
    assert!(staged_branch.lines().any(|b| b == "committed"));
    assert!(leased_ports(&env).is_empty());
    assert_eq!(env.ok(&repo, &["ls", "--json"]).trim(), "[]");
}

#[test]
fn rm_delete_branch_refuses_unmerged_work_without_force() {
    let env = Env::new();
    let repo = env.repo("del");
    env.ok(&repo, &["add", "topic"]);
    env.commit(&slot_dir(&env, "del", "topic"), "t.txt", "t");
    let err = env.fails(&repo, &["rm", "topic", "--delete-branch"], 3);
    assert!(err.contains("not merged"), "{err}");
    env.ok(&repo, &["rm", "topic", "--delete-branch", "--force"]);
    assert!(!branches(&env, &repo).lines().any(|b| b == "topic"));
    // A merged branch goes without --force.
    env.ok(&repo, &["add", "merged"]);
    env.commit(&slot_dir(&env, "del", "merged"), "m.txt", "m");
    env.git(&repo, &["merge", "-q", "--ff-only", "merged"]);
    env.ok(&repo, &["rm", "merged"]);
    assert!(!branches(&env, &repo).lines().any(|b| b == "merged"));
    // A pushed branch is safe to remove (kept, not merged).
    let origin = env.root().join("origin.git");
    env.git(
        &env.root(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    env.git(
        &repo,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    env.ok(&repo, &["add", "pushed"]);
    let pushed = slot_dir(&env, "del", "pushed");
    env.commit(&pushed, "p.txt", "p");
    env.git(&pushed, &["push", "-q", "-u", "origin", "pushed"]);
    let out = env.run(&repo, &["rm", "pushed"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("branch pushed kept: not merged into main"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rm_lists_ignored_files_it_destroys_and_is_idempotent() {
    let env = Env::new();
    let repo = env.repo("ign");
    std::fs::write(repo.join(".gitignore"), "uploads/\n").unwrap();
    env.git(&repo, &["add", ".gitignore"]);
    env.git(&repo, &["commit", "-qm", "ignore"]);
    let dir = PathBuf::from(env.ok(&repo, &["add", "up"]).trim());
    std::fs::create_dir_all(dir.join("uploads")).unwrap();
    std::fs::write(dir.join("uploads/cat.png"), "png").unwrap();
    // A failure half-way through rm: a second rm finishes.
    let out = env
        .cmd(&repo)
        .args(["rm", "up"])
        .env("GIT_AGENT_TEST_FAIL_AT", "branch")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("uploads/") && stderr.contains("ignored"),
        "{stderr}"
    );
    let ls = env.json(&repo, &["ls", "--json"]);
    assert_eq!(ls[0]["state"], "removing");
    env.ok(&repo, &["rm", "up"]);
    assert!(!dir.exists());
    assert!(leased_ports(&env).is_empty());
    assert!(!branches(&env, &repo).lines().any(|b| b == "up"));
}

#[test]
fn prune_forgets_slots_whose_directory_is_gone() {
    let env = Env::new();
    let repo = env.repo("gone");
    let dir = PathBuf::from(env.ok(&repo, &["add", "lost"]).trim());
    env.ok(&repo, &["add", "kept"]);
    std::fs::remove_dir_all(&dir).unwrap();
    let ls = env.json(&repo, &["ls", "--json"]);
    let lost = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "lost")
        .unwrap();
    assert_eq!(lost["git"]["missing"], true);
    let err = env.fails(&repo, &["rm", "lost"], 3);
    assert!(
        err.contains("directory is gone") && err.contains("prune"),
        "{err}"
    );
    let out = env.run(&repo, &["prune", "--dry-run"]);
    assert!(text(&out.stderr).contains("would forget slot lost"));
    assert_eq!(leased_ports(&env).len(), 2);
    env.ok(&repo, &["prune"]);
    let ls = env.json(&repo, &["ls", "--json"]);
    assert_eq!(ls.as_array().unwrap().len(), 1);
    assert_eq!(ls[0]["name"], "kept");
    assert_eq!(leased_ports(&env).len(), 1);
    assert!(!env.git(&repo, &["worktree", "list"]).contains("lost"));
}

#[test]
fn ls_reports_dirty_and_ahead_behind() {
    let env = Env::new();
    let repo = env.repo("board");
    let dir = PathBuf::from(env.ok(&repo, &["add", "work"]).trim());
    env.commit(&dir, "a.txt", "a");
    env.commit(&dir, "b.txt", "b");
    env.commit(&repo, "main.txt", "m");
    std::fs::write(dir.join("scratch.txt"), "s").unwrap();
    let ls = env.json(&repo, &["ls", "--json"]);
    assert_eq!(ls[0]["git"]["ahead"], 2);
    assert_eq!(ls[0]["git"]["behind"], 1);
    assert_eq!(ls[0]["git"]["dirty"], true);
    // Ahead and behind as arrows, in ASCII where the locale is not UTF-8.
    let table = |locale: &str| {
        let out = env
            .cmd(&repo)
            .arg("ls")
            .env("LC_ALL", locale)
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let utf8 = table("C.UTF-8");
    assert!(utf8.contains("dirty(1) ↑2 ↓1"), "{utf8}");
    let ascii = table("C");
    assert!(
        ascii.contains("dirty(1) ^2 v1") && ascii.is_ascii(),
        "{ascii}"
    );
    let fast = env.json(&repo, &["ls", "--json", "--no-status"]);
    assert!(fast[0]["git"].is_null());
}

#[test]
fn ls_survives_a_closed_pipe() {
    let env = Env::new();
    let repo = env.repo("pipe");
    for i in 0..3 {
        env.ok(&repo, &["add", &format!("s{i}")]);
    }
    let mut cmd = std::process::Command::new("bash");
    env.isolate(&mut cmd);
    let out = cmd
        .current_dir(&repo)
        .args(["-c", "set -o pipefail; git-agent ls | head -c 1 >/dev/null"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"));
}
