//! Hostile and broken input. Property tests (proptest) over the template renderer, the
//! env-file parser and writer, name derivation and shell quoting (checked by real bash, zsh
//! and fish); the binary fed hostile branch and slot names, paths with spaces and quotes, and
//! damaged state files; a repository trying to make git-agent trust it; the permissions of
//! every state file and directory.
//!
//! Case counts: `GIT_AGENT_FUZZ_CASES` (default 256) for the pure properties, an eighth of it
//! (at least 24) for the properties that run the binary once per case. `.ci/run` runs a larger
//! count outside the default run.

mod harden;
mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use git_agent::{config, envfile, names, quote, template::Vars};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use support::{Env, text};

fn cases() -> u32 {
    std::env::var("GIT_AGENT_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

fn cli_cases() -> u32 {
    (cases() / 8).max(24)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings rich in what breaks parsers and shells: quotes, braces, backslashes, `$`, `#`,
/// `=`, newlines, carriage returns, tabs, unicode and control characters.
fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(vec![
                "'", "\"", "{", "}", "{{", "}}", "\\", "$", "`", "#", "=", " ", "\n", "\r", "\t",
                "$(id)", "${HOME}", "'\\''", "\\n", "export ", "# >>> git-agent", "# <<< git-agent",
                "ü", "🦀", "\u{202e}", "\u{7f}", "\u{1}", "-", "/", "..", "%", "!",
            ])
            .prop_map(str::to_string),
            2 => "[a-zA-Z0-9_]{1,6}",
            1 => any::<char>().prop_filter("no NUL", |c| *c != '\0').prop_map(String::from),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

fn var_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

proptest! {
    #![proptest_config(config(cases()))]

    /// Rendering never panics; literal braces escaped as `{{`/`}}` come back as they were;
    /// an error names the place it came from.
    #[test]
    fn template_renderer(text in nasty(), value in nasty()) {
        let mut vars = Vars::default();
        vars.set("slot", value.clone());
        match vars.render(&text, "t.toml:3: env.X") {
            Ok(out) => {
                if !text.contains(['{', '}']) {
                    prop_assert_eq!(&out, &text);
                }
            }
            Err(e) => prop_assert!(e.to_string().starts_with("t.toml:3: env.X: "), "{}", e),
        }
        let escaped = text.replace('{', "{{").replace('}', "}}");
        prop_assert_eq!(vars.render(&escaped, "p").unwrap(), text.clone());
        let with_var = format!("{escaped}{{slot}}{escaped}");
        prop_assert_eq!(vars.render(&with_var, "p").unwrap(), format!("{text}{value}{text}"));
        // check() agrees with render() on what is valid.
        let known = vec!["slot".to_string()];
        prop_assert_eq!(Vars::check(&text, "p", &known).is_ok(), vars.render(&text, "p").is_ok());
    }

    /// Any value written by git-agent is read back unchanged by the parser.
    #[test]
    fn env_values_round_trip(value in nasty()) {
        let text = format!("K={}\n", envfile::quote_value(&value));
        let parsed = envfile::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        prop_assert_eq!(parsed.len(), 1);
        prop_assert_eq!(&parsed[0].value, &value, "{:?}", text);
    }

    /// The parser never panics on any text; its errors name a line.
    #[test]
    fn env_parser_never_panics(text in nasty()) {
        if let Err(e) = envfile::parse(&text) {
            prop_assert!(e.starts_with("line "), "{}", e);
        }
    }

    /// Writing the block keeps every byte the user wrote outside it, through any number of
    /// rewrites, and the block reads back as the values given.
    #[test]
    fn env_block_keeps_user_lines(
        user in nasty().prop_filter("no marker", |u| !u.contains("# >>> git-agent")),
        vars in prop::collection::btree_map(var_name(), nasty(), 0..6),
        again in prop::collection::btree_map(var_name(), nasty(), 0..6),
    ) {
        let once = envfile::with_block(&user, &vars);
        let twice = envfile::with_block(&once, &again);
        let kept = envfile::without_block(&twice).unwrap();
        let expected = if user.is_empty() || user.ends_with('\n') { user.clone() } else { format!("{user}\n") };
        prop_assert_eq!(&kept, &expected);
        let block = &twice[expected.len()..];
        let entries = envfile::parse(block).map_err(|e| TestCaseError::fail(format!("{e}: {block:?}")))?;
        let read: BTreeMap<String, String> = entries.into_iter().map(|e| (e.key, e.value)).collect();
        prop_assert_eq!(read, again);
    }

    /// Slot names derived from any branch are one safe path component.
    #[test]
    fn slot_names_are_safe(branch in nasty()) {
        let name = names::slot_name(&branch);
        prop_assert!(names::check_slot_name(&name).is_ok(), "{:?} -> {:?}", branch, name);
        prop_assert!(!name.contains('/') && name != "." && name != "..");
    }

    /// Database identifiers are `[a-z0-9_]`, at most 63 bytes, never starting with a digit.
    #[test]
    fn identifiers_are_safe(a in nasty(), b in nasty()) {
        let id = names::identifier(&[&a, &b], &format!("{a}\0{b}"), 63);
        prop_assert!(id.len() <= 63 && !id.is_empty());
        prop_assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{}", id);
        prop_assert!(!id.starts_with(|c: char| c.is_ascii_digit()));
        let compose = names::compose_name(&a);
        prop_assert!(compose.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'));
    }

    /// A template of any text parses or fails with `file:line` or `file:`, never a panic.
    #[test]
    fn template_files_never_panic(text in nasty()) {
        let path = Path::new("/r/.git-agent.toml");
        if let Err(e) = config::parse_template(&text, path) {
            prop_assert!(e.to_string().starts_with("/r/.git-agent.toml:"), "{}", e);
        }
    }
}

/// Values quoted for bash, zsh and fish come out of the real shells byte for byte: every
/// case is printed by one script per shell and compared.
#[test]
fn shell_quoting_survives_real_shells() {
    let mut runner = proptest::test_runner::TestRunner::new(config(cases()));
    let values: Vec<String> = (0..cases())
        .map(|_| nasty().new_tree(&mut runner).unwrap().current())
        .chain(
            [
                "",
                "'",
                "\\",
                "a\\",
                "\\'",
                "$(touch pwned)",
                "`touch pwned`",
                "\n",
                "x\ny",
            ]
            .map(String::from),
        )
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (shell, quote) in [
        ("bash", quote::posix as fn(&str) -> String),
        ("zsh", quote::posix),
        ("fish", quote::fish),
    ] {
        let mut script = String::new();
        for value in &values {
            script.push_str(&format!("printf '%s\\0' {}\n", quote(value)));
        }
        let file = dir.path().join(format!("script.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let out = Command::new(shell)
            .arg(&file)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell} failed: {}",
            text(&out.stderr)
        );
        let printed: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        assert_eq!(
            printed.len(),
            values.len() + 1,
            "{shell}: wrong number of values"
        );
        for (value, got) in values.iter().zip(printed) {
            assert_eq!(text(got), *value, "{shell} changed the value");
        }
        assert!(
            !dir.path().join("pwned").exists(),
            "{shell} ran a value as code"
        );
    }
}

/// The allowed places for a change: the repository's git dir, the worktrees directory next
/// to it and git-agent's state dir. Everything else under the temp dir must stay the same.
fn outside_allowed(rel: &str) -> bool {
    rel.starts_with("app/.git/") || rel.starts_with("app-worktrees") || rel.starts_with("state/")
}

/// Branch names that are hostile on purpose. Each gives a clear error or a slot whose name
/// and path are safe; none panics or writes anywhere else.
#[test]
fn hostile_branch_names() {
    let env = Env::new();
    let repo = env.repo("app");
    let long = "a".repeat(300);
    let long_parts = format!("{}/{}", "b".repeat(200), "c".repeat(200));
    let cases = [
        "HEAD",
        "-rf",
        "--force",
        "-",
        "@",
        "@{-1}",
        "a..b",
        "../../etc/passwd",
        "feature/../../x",
        "x.lock",
        ".hidden",
        "trailing/",
        "/leading",
        "with space",
        "tab\there",
        "new\nline",
        "$(touch pwned)",
        "`touch pwned`",
        "a;touch pwned",
        "ünï/côde",
        "🦀",
        "\u{202e}txt.exe",
        "refs/heads/main",
        "main",
        "origin/x",
        &long,
        &long_parts,
        "a//b",
        "a/./b",
        "x~1",
        "x^",
        "x:y",
        "x?",
        "x*",
        "x[",
        "x\\y",
        "'",
        "\"",
    ];
    for branch in cases {
        check_branch(&env, &repo, branch, &[]);
    }
    assert_no_pwned(&env);
}

/// Slot names given with `--name`: only `[A-Za-z0-9._-]`, never `..`, never hidden or a flag.
#[test]
fn hostile_slot_names() {
    let env = Env::new();
    let repo = env.repo("app");
    for name in [
        "..",
        ".",
        "../x",
        "a/b",
        "-x",
        ".x",
        "a b",
        // Letters of any script are fine (`ü`, `日本語`); a right-to-left override or a
        // zero-width joiner, which make a name read as another, are not.
        "a\u{202e}b",
        "a\u{200d}b",
        "",
        "x\n",
        &"n".repeat(65),
        "$(touch pwned)",
    ] {
        let before = snapshot_outside(&env);
        let err = env.fails(&repo, &["add", &format!("--name={name}"), "some-branch"], 1);
        assert!(
            err.starts_with("git-agent: error: ") && err.contains("slot name"),
            "{name:?}: {err}"
        );
        assert_eq!(before, snapshot_outside(&env), "{name:?}");
    }
    // And a good one goes exactly where it should.
    let out = env.ok(&repo, &["add", "--name", "ok_name-1.2", "some-branch"]);
    assert_eq!(
        out.trim(),
        env.root()
            .join("app-worktrees/ok_name-1.2")
            .to_str()
            .unwrap()
    );
    assert_no_pwned(&env);
}

proptest! {
    #![proptest_config(config(cli_cases()))]

    /// Random branch names built from the pieces that break things.
    #[test]
    fn random_branch_names(branch in prop::collection::vec(
        prop::sample::select(vec![
            "a", "feat", "/", "-", ".", "..", " ", "@", "{", "}", "'", "\"", "$", "ü", "~", "^",
            ":", "\\", "lock", ".lock", "HEAD", "#", "%", "+",
        ]),
        1..8,
    ).prop_map(|p| p.concat())) {
        let env = Env::new();
        let repo = env.repo("app");
        check_branch(&env, &repo, &branch, &[]);
    }
}

fn snapshot_outside(env: &Env) -> BTreeMap<String, String> {
    harden::snapshot(&env.root(), &|rel| {
        outside_allowed(rel) || harden::only_lock_files(rel)
    })
}

fn assert_no_pwned(env: &Env) {
    let found = harden::snapshot(&env.root(), &|_| false)
        .into_keys()
        .filter(|k| k.contains("pwned"))
        .collect::<Vec<_>>();
    assert!(found.is_empty(), "a value ran as code: {found:?}");
}

/// Adds `branch`; on success checks the slot and removes it again (so the next case starts
/// clean); either way nothing outside the allowed places changed.
fn check_branch(env: &Env, repo: &Path, branch: &str, extra: &[&str]) {
    let before = snapshot_outside(env);
    let mut args = vec!["add", "--json"];
    args.extend_from_slice(extra);
    // No `--`: after it come the command's words. A name starting with '-' is then a usage
    // error (exit 2), which is the clear error for it.
    args.push(branch);
    let out = env.run(repo, &args);
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{branch:?}: panic: {err}");
    match out.status.code() {
        Some(2) if branch.starts_with('-') => {
            let last: serde_json::Value =
                serde_json::from_str(err.lines().last().unwrap()).unwrap();
            assert_eq!(last["error"]["kind"], "usage", "{branch:?}: {err}");
        }
        Some(0) => {
            let slot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let name = slot["name"].as_str().unwrap();
            names::check_slot_name(name)
                .unwrap_or_else(|e| panic!("{branch:?}: unsafe slot name {name:?}: {e}"));
            let path = PathBuf::from(slot["path"].as_str().unwrap());
            assert_eq!(
                path,
                env.root().join("app-worktrees").join(name),
                "{branch:?}: slot outside the worktrees dir"
            );
            assert_eq!(slot["branch"].as_str().unwrap(), branch);
            let head = env.git(&path, &["symbolic-ref", "HEAD"]);
            assert_eq!(head.trim(), format!("refs/heads/{branch}"), "{branch:?}");
            env.ok(repo, &["rm", "--force", "--", name]);
            assert!(!path.exists());
        }
        Some(1) => {
            // With --json the error is one JSON object, the last line of stderr.
            let last: serde_json::Value = serde_json::from_str(err.lines().last().unwrap())
                .unwrap_or_else(|e| panic!("{branch:?}: not a JSON error ({e}): {err}"));
            assert_eq!(last["error"]["exit_code"], 1, "{branch:?}: {err}");
            assert!(out.stdout.is_empty(), "{branch:?}: stdout on error");
            // A failed add leaves no slot, lease or branch behind.
            assert!(
                harden::records(repo).is_empty(),
                "{branch:?}: record left after: {err}"
            );
        }
        other => panic!("{branch:?}: exit {other:?}: {err}"),
    }
    assert!(harden::leases(env).is_empty(), "{branch:?}: lease left");
    let d = harden::diff(&before, &snapshot_outside(env));
    assert!(
        d.is_empty(),
        "{branch:?} changed things outside the allowed places:\n{d}"
    );
}

/// A repository and slots in directories whose names hold spaces, quotes and `$`: every
/// command works, and the shell code `env --shell` prints sets exactly those paths.
#[test]
fn paths_with_spaces_and_quotes() {
    let env = Env::new();
    let weird = "my repo 'single' \"double\" $HOME `x` ü";
    let repo = env.root().join(weird);
    std::fs::create_dir_all(&repo).unwrap();
    env.git(&repo, &["init", "-q", "-b", "main"]);
    env.commit(&repo, "README", "x\n");
    let slot = PathBuf::from(
        env.ok(&repo, &["add", "feature/a-b"])
            .trim_end_matches('\n'),
    );
    assert!(slot.is_dir(), "{}", slot.display());
    assert!(slot.starts_with(env.root().join(format!("{weird}-worktrees"))));
    let custom = env.root().join("custom dir 'q'/slot \"two\"");
    let out = env.ok(&repo, &["add", "--path", custom.to_str().unwrap(), "two"]);
    assert_eq!(out.trim_end_matches('\n'), custom.to_str().unwrap());
    assert_eq!(
        env.ok(&repo, &["path", "two"]).trim_end_matches('\n'),
        custom.to_str().unwrap()
    );
    for shell in ["bash", "zsh"] {
        let code = env.ok(&repo, &["env", "--shell", shell, "two"]);
        let mut cmd = Command::new(shell);
        env.isolate(&mut cmd);
        let out = cmd
            .arg("-c")
            .arg(format!("{code}\nprintf '%s' \"$DATABASE_URL\""))
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(custom.to_str().unwrap()),
            "{shell}: {}",
            text(&out.stdout)
        );
    }
    let listed = env.json(&repo, &["ls", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    env.ok(&slot, &["rm", "--", "two"]);
    env.ok(&repo, &["rm", "feature/a-b"]);
    assert!(!custom.exists() && !slot.exists());
    assert!(!env.root().join("pwned").exists());
}

/// Two repositories with slots, for the state-damage tests.
fn two_repos_with_slots() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let a = env.repo("app");
    let b = env.repo("other");
    env.ok(&a, &["add", "one"]);
    env.ok(&a, &["add", "two"]);
    env.ok(&b, &["add", "three"]);
    (env, a, b)
}

#[test]
fn damaged_registry_gives_a_clear_error_and_repair_restores_every_lease() {
    type Damage<'a> = (&'a str, &'a dyn Fn(&str) -> String);
    let damages: [Damage; 5] = [
        ("truncated", &|t| t[..t.len() / 2].to_string()),
        ("empty", &|_| String::new()),
        ("garbage", &|_| "\u{0}\u{1}not json at all ]]]".to_string()),
        ("wrong version", &|t| {
            t.replacen("\"version\": 1", "\"version\": 99", 1)
        }),
        ("wrong shape", &|_| {
            "{\"version\": 1, \"slots\": {\"a\": 1}}".to_string()
        }),
    ];
    for (what, damage) in damages {
        let (env, a, b) = two_repos_with_slots();
        let path = env.state_dir().join("registry.json");
        let good = harden::leases(&env);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, damage(&text)).unwrap();
        let damaged = std::fs::read(&path).unwrap();
        // Commands that change leases stop, name the file and the way out, change nothing.
        for args in [vec!["add", "four"], vec!["rm", "one"], vec!["prune"]] {
            let err = env.fails(&a, &args, 1);
            assert!(
                err.contains(path.to_str().unwrap()) && err.contains("git agent prune --repair"),
                "{what}: {args:?}: {err}"
            );
            assert_eq!(
                std::fs::read(&path).unwrap(),
                damaged,
                "{what}: {args:?} touched the damaged file"
            );
        }
        assert!(
            a.parent().unwrap().join("app-worktrees/one").is_dir(),
            "{what}"
        );
        // Reading commands go on.
        assert_eq!(
            env.json(&a, &["ls", "--json", "--no-status"])
                .as_array()
                .unwrap()
                .len(),
            2,
            "{what}"
        );
        // The way out, run from a repository the registry no longer names: every lease comes back.
        let err = env.fails(&env.root(), &["prune", "--repair"], 0);
        assert!(
            err.contains("rebuilt the registry with 3 slot(s)"),
            "{what}: {err}"
        );
        if what != "wrong version" {
            assert!(err.contains("the damaged file is kept as"), "{what}: {err}");
        }
        let mut repaired = harden::leases(&env);
        let mut good = good.clone();
        repaired.sort();
        good.sort();
        assert_eq!(repaired, good, "{what}: leases lost in the repair");
        harden::assert_consistent(&env, &[&a, &b]);
        env.ok(&a, &["add", "four"]);
        harden::assert_consistent(&env, &[&a, &b]);
    }
}

#[test]
fn damaged_slot_record_hides_nothing_else_and_has_a_way_out() {
    for (what, damage) in [
        ("truncated", "name = \"one\"\nbranch = "),
        ("garbage", "\u{1}\u{2}]]] not toml"),
        ("wrong version", "version = 99\nname = \"one\"\n"),
    ] {
        let (env, a, b) = two_repos_with_slots();
        let record = harden::common_dir(&a).join("agent/slots/one.toml");
        let full = std::fs::read_to_string(&record).unwrap();
        let version_bump = full.replacen("version = 1", "version = 99", 1);
        std::fs::write(
            &record,
            if what == "wrong version" {
                version_bump.as_str()
            } else {
                damage
            },
        )
        .unwrap();
        // ls shows the others and says which file is damaged.
        let out = env
            .cmd(&a)
            .args(["ls", "--json", "--no-status"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{what}");
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1, "{what}");
        assert!(
            text(&out.stderr).contains(record.to_str().unwrap()),
            "{what}: {}",
            text(&out.stderr)
        );
        // rm of the damaged slot: a clear error naming the file.
        let err = env.fails(&a, &["rm", "one"], 1);
        assert!(err.contains(record.to_str().unwrap()), "{what}: {err}");
        // Other slots work; a new add does not take the damaged slot's name or ports.
        env.ok(&a, &["rm", "two"]);
        let err2 = env.fails(&a, &["add", "--name", "one", "another"], 1);
        assert!(
            err2.contains("a slot named 'one' already exists"),
            "{what}: {err2}"
        );
        // prune never drops the lease of a slot whose record it cannot read.
        env.ok(&a, &["prune"]);
        assert!(
            harden::leases(&env).iter().any(|l| l.1 == "one"),
            "{what}: prune dropped the damaged slot's lease"
        );
        // The way out the message gives: check the worktree, delete the record, prune.
        let way_out = if what == "wrong version" {
            "use the git-agent that wrote it"
        } else {
            "then delete this file"
        };
        assert!(err.contains(way_out), "{what}: {err}");
        std::fs::remove_file(&record).unwrap();
        env.ok(&a, &["prune"]);
        assert!(!harden::leases(&env).iter().any(|l| l.1 == "one"), "{what}");
        harden::assert_consistent(&env, &[&b]);
    }
}

/// Every state file is the user's alone: the state dir and the per-repository dirs 0700,
/// files 0600 (they can hold database URLs with passwords), the slot's env file 0600.
#[test]
fn state_files_are_private() {
    let env = Env::new();
    let repo = env.repo("app");
    let slot = PathBuf::from(env.ok(&repo, &["add", "one"]).trim());
    let common = harden::common_dir(&repo);
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let state = env.state_dir();
    assert_eq!(mode(&state), 0o700, "{}", state.display());
    for entry in std::fs::read_dir(&state).unwrap().flatten() {
        assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
    }
    for dir in [common.join("agent"), common.join("agent/slots")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        common.join("agent/slots/one.toml"),
        common.join("agent/lock"),
        slot.join(".env.local"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

/// A repository may not set variables that take over shells or programs, under any of the
/// keys that name a variable, unless the user's own config allows the name.
#[test]
fn dangerous_variable_names_from_a_repository_are_refused() {
    let env = Env::new();
    let repo = env.repo("app");
    let templates = [
        ("[env]\nLD_PRELOAD = \"/tmp/evil.so\"\n", "LD_PRELOAD"),
        ("[env]\nBASH_ENV = \"/tmp/x\"\n", "BASH_ENV"),
        ("[ports]\nPATH = 3000\n", "PATH"),
        ("[database]\nvar = \"PROMPT_COMMAND\"\n", "PROMPT_COMMAND"),
        ("[redis]\nprefix_var = \"GIT_DIR\"\n", "GIT_DIR"),
        ("[compose]\nvar = \"NODE_OPTIONS\"\n", "NODE_OPTIONS"),
        ("[database]\nvar = \"BAD NAME\"\n", "BAD NAME"),
    ];
    for (template, name) in templates {
        std::fs::write(repo.join(".git-agent.toml"), template).unwrap();
        let before = snapshot_outside(&env);
        let err = env.fails(&repo, &["add", "x"], 1);
        assert!(err.contains(name), "{template}: {err}");
        assert!(
            err.contains(".git-agent.toml"),
            "{template}: the error must name the file: {err}"
        );
        assert!(
            harden::records(&repo).is_empty() && harden::leases(&env).is_empty(),
            "{template}"
        );
        assert_eq!(before, snapshot_outside(&env));
    }
    // The user's own config allows a name by name.
    std::fs::write(
        repo.join(".git-agent.toml"),
        "[env]\nNODE_OPTIONS = \"--max-old-space-size=4096\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(env.config_file().parent().unwrap()).unwrap();
    std::fs::write(
        env.config_file(),
        "[trust]\nallow_env = [\"NODE_OPTIONS\"]\n",
    )
    .unwrap();
    let slot = PathBuf::from(env.ok(&repo, &["add", "x"]).trim());
    let vars = env.json(&repo, &["env", "--json", "x"]);
    assert_eq!(vars["env"]["NODE_OPTIONS"], "--max-old-space-size=4096");
    assert!(slot.is_dir());
}

/// A repository's template may not send the files git-agent writes or deletes outside the
/// slot: not the env file, not the SQLite database.
#[test]
fn template_paths_stay_inside_the_slot() {
    let env = Env::new();
    let repo = env.repo("app");
    let victim = env.root().join("home/.bashrc");
    std::fs::write(&victim, "# the user's shell setup\n").unwrap();
    let templates = [
        "[worktree]\nenv_file = \"../../home/.bashrc\"\n",
        &format!("[worktree]\nenv_file = \"{}\"\n", victim.display()),
        "[database]\npath = \"../../home/evil.sqlite3\"\n",
        "[database]\npath = \"/tmp/git-agent-evil.sqlite3\"\n",
        "[worktree]\nenv_file = \"\"\n",
        "[worktree]\nenv_file = \".git/config\"\n",
    ];
    for template in templates {
        std::fs::write(repo.join(".git-agent.toml"), template).unwrap();
        let before = snapshot_outside(&env);
        let out = env.run(&repo, &["add", "x"]);
        let err = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{template}: must be refused: {err}"
        );
        assert!(
            err.contains(".git-agent.toml")
                || err.contains("database.path")
                || err.contains("env_file"),
            "{template}: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "# the user's shell setup\n"
        );
        assert!(
            !env.root().join("home/evil.sqlite3").exists()
                && !Path::new("/tmp/git-agent-evil.sqlite3").exists()
        );
        let d = harden::diff(&before, &snapshot_outside(&env));
        assert!(d.is_empty(), "{template}:\n{d}");
        assert!(harden::leases(&env).is_empty(), "{template}");
    }
}

/// A repository that ships look-alike state (a committed `.env.local`, a `.git-agent`
/// directory, slot records inside its own `.git`, a registry-like file) is not a slot: the
/// shell hook exports nothing there. A directory whose name merely extends a slot's is not
/// inside it.
#[test]
fn a_repository_cannot_make_itself_trusted() {
    let env = Env::new();
    let real = env.repo("app");
    let slot = PathBuf::from(env.ok(&real, &["add", "feat"]).trim());
    let evil = env.repo("evil");
    env.commit(
        &evil,
        ".env.local",
        "PORT=6666\nLD_PRELOAD=/tmp/evil.so\nGIT_AGENT_SLOT=feat\n",
    );
    std::fs::create_dir_all(evil.join(".git-agent")).unwrap();
    std::fs::write(evil.join(".git-agent/registry.json"), format!("{{\"version\":1,\"slots\":[{{\"root\":\"{}\",\"repo\":\"{}\",\"name\":\"x\",\"env_file\":\".env.local\",\"k\":1,\"ports\":{{}}}}]}}", evil.display(), evil.join(".git").display())).unwrap();
    std::fs::create_dir_all(evil.join(".git/agent/slots")).unwrap();
    std::fs::write(evil.join(".git/agent/slots/x.toml"), format!("version = 1\nname = \"x\"\nbranch = \"main\"\npath = \"{}\"\nstate = \"ready\"\nbase = \"main\"\nk = 1\nenv_file = \".env.local\"\ncreated = 0\n[ports]\nPORT = 6666\n", evil.display())).unwrap();
    let lookalike = PathBuf::from(format!("{}-evil", slot.display()));
    std::fs::create_dir_all(&lookalike).unwrap();
    std::fs::write(lookalike.join(".env.local"), "PORT=6666\n").unwrap();
    for dir in [evil.clone(), evil.join(".git-agent"), lookalike.clone()] {
        let out = env
            .cmd(&dir)
            .args(["hook-env", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            dir.display(),
            text(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "{}: the hook exported {:?}",
            dir.display(),
            text(&out.stdout)
        );
    }
    // The real slot does export (so the check above can fail), and never LD_PRELOAD.
    std::fs::write(
        slot.join(".env.local"),
        format!(
            "LD_PRELOAD=/tmp/evil.so\n{}",
            std::fs::read_to_string(slot.join(".env.local")).unwrap()
        ),
    )
    .unwrap();
    let out = env
        .cmd(&slot)
        .args(["hook-env", slot.to_str().unwrap()])
        .output()
        .unwrap();
    let records = text(&out.stdout);
    assert!(records.contains("PORT"), "{records:?}");
    assert!(!records.contains("LD_PRELOAD"), "{records:?}");
    assert!(
        text(&out.stderr).contains("not exporting LD_PRELOAD"),
        "{}",
        text(&out.stderr)
    );
}
