//! Man pages: `man/` holds what clap_mangen generates from the CLI (a test fails when it is
//! stale), `git agent install-man` puts them where man-db looks for a binary on PATH, and
//! `git agent --help` (which git turns into `man git-agent`) then shows the page, while
//! `git-agent --help` works without man.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Env, text};

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

/// `GIT_AGENT_BLESS=1 cargo test --test man` rewrites `man/`.
#[test]
fn committed_pages_are_current() {
    let pages = git_agent::man::pages();
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "git-agent.1",
        "git-agent-add.1",
        "git-agent-rm.1",
        "git-agent-init.1",
        "git-agent-cd.1",
    ] {
        assert!(names.contains(&expected), "{expected} not among {names:?}");
    }
    assert!(
        !names
            .iter()
            .any(|n| n.contains("hook-env") || n.contains("help")),
        "{names:?}"
    );
    if std::env::var_os("GIT_AGENT_BLESS").is_some() {
        std::fs::create_dir_all(man_dir()).unwrap();
        for entry in std::fs::read_dir(man_dir()).unwrap().flatten() {
            std::fs::remove_file(entry.path()).unwrap();
        }
        for (name, text) in &pages {
            std::fs::write(man_dir().join(name), text).unwrap();
        }
    }
    let mut committed: Vec<String> = std::fs::read_dir(man_dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    committed.sort();
    let mut wanted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    wanted.sort();
    let hint = "run `GIT_AGENT_BLESS=1 cargo test --test man` and commit man/";
    assert_eq!(
        committed, wanted,
        "man/ does not hold exactly the generated pages; {hint}"
    );
    for (name, text) in &pages {
        let on_disk = std::fs::read(man_dir().join(name)).unwrap();
        assert!(&on_disk == text, "man/{name} is stale; {hint}");
    }
}

/// Installed beside a binary on PATH (here a symlink in `<prefix>/bin`), the pages are found
/// by man-db through PATH alone, and `git agent --help` opens the page.
#[test]
fn install_man_makes_git_agent_help_open_the_page() {
    let env = Env::new();
    let prefix = env.root().join("prefix");
    std::fs::create_dir_all(prefix.join("bin")).unwrap();
    std::os::unix::fs::symlink(support::bin(), prefix.join("bin/git-agent")).unwrap();
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        prefix.join("bin").display()
    );
    let run = |program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        env.isolate(&mut cmd);
        cmd.args(args)
            .current_dir(env.root())
            .env("PATH", &path)
            .env_remove("MANPATH")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap()
    };
    let out = run("git-agent", &["install-man"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("installed"),
        "{}",
        text(&out.stderr)
    );
    let page = prefix.join("share/man/man1/git-agent.1");
    assert!(page.is_file(), "no {}", page.display());
    assert!(prefix.join("share/man/man1/git-agent-add.1").is_file());

    let out = run("man", &["-w", "git-agent"]);
    assert_eq!(
        text(&out.stdout).trim(),
        page.display().to_string(),
        "{}",
        text(&out.stderr)
    );
    let out = run("git", &["agent", "--help"]);
    assert!(
        out.status.success(),
        "git agent --help: {}",
        text(&out.stderr)
    );
    let shown = text(&out.stdout);
    assert!(
        shown.contains("NAME") && shown.contains("git-agent"),
        "{shown}"
    );
    assert!(
        shown.contains("install-man"),
        "the page lists the subcommands: {shown}"
    );
    let out = run("man", &["git-agent-add"]);
    assert!(
        text(&out.stdout).contains("--no-cd"),
        "{}",
        text(&out.stdout)
    );

    // Without man (and without pages), `git-agent --help` is clap's own help.
    let out = Command::new(support::bin())
        .arg("--help")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("install-man"));
}

/// `--dir` writes elsewhere; an unwritable place fails with a message naming it.
#[test]
fn install_man_to_a_chosen_directory() {
    let env = Env::new();
    let dir = env.root().join("pages");
    let man_finding = || {
        let out = env
            .cmd(&env.root())
            .args(["doctor", "--json"])
            .env_remove("MANPATH")
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "man")
            .cloned()
            .unwrap()
    };
    // Before: doctor says `--help` will find no page, and how to fix it.
    let before = man_finding();
    assert_eq!(before["level"], "warning");
    assert!(
        before["fix"]
            .as_str()
            .unwrap()
            .contains("git agent install-man")
    );
    env.ok(
        &env.root(),
        &["install-man", "--dir", dir.to_str().unwrap()],
    );
    assert!(dir.join("git-agent-rm.1").is_file());
    assert_eq!(man_finding()["level"], "ok");
    let blocker = env.root().join("file");
    std::fs::write(&blocker, "").unwrap();
    let err = env.fails(
        &env.root(),
        &[
            "install-man",
            "--dir",
            blocker.join("sub").to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains(&blocker.display().to_string()) && err.contains("--dir"),
        "{err}"
    );
}

/// The exit statuses are in `--help` (of git-agent and of each command) and in every page.
#[test]
fn exit_statuses_are_documented_in_help_and_pages() {
    let env = Env::new();
    for args in [&["--help"][..], &["rm", "--help"], &["exec", "--help"]] {
        let help = env.ok(&env.root(), args);
        assert!(help.contains("Exit status:"), "{args:?}: {help}");
        for line in [
            "  3    refused:",
            "  127  not_found:",
            "  4    busy:",
            "  130  interrupted:",
        ] {
            assert!(help.contains(line), "{args:?} lacks {line:?}: {help}");
        }
    }
    for (name, text) in git_agent::man::pages() {
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(".SH \"EXIT STATUS\""), "{name}");
        assert!(text.contains("\\fB127\\fR (not_found)"), "{name}");
        assert!(!text.contains(".SH EXTRA"), "{name}");
    }
    // As man shows it.
    let dir = env.root().join("man1");
    env.ok(
        &env.root(),
        &["install-man", "--dir", dir.to_str().unwrap()],
    );
    let out = Command::new("man")
        .arg(dir.join("git-agent-exec.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(
        shown.contains("EXIT STATUS") && shown.contains("127 (not_found)"),
        "{shown}"
    );
}

/// Right after installing (the binary in `<prefix>/bin`, as `cargo install` puts it) and
/// adding the one init line, with no other step, `git agent --help` opens the page in bash,
/// zsh and fish, `git agent help CMD` opens the command's, and `-h` stays the built-in help.
/// With MANPATH set (man then searches only there) the init line adds the pages' place to it.
#[test]
fn help_opens_the_page_right_after_install_and_the_init_line() {
    for (shell, manpath) in [
        ("bash", None),
        ("zsh", None),
        ("fish", None),
        ("bash", Some("/usr/share/man")),
    ] {
        let env = Env::new();
        let prefix = env.root().join("prefix");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::copy(support::bin(), prefix.join("bin/git-agent")).unwrap();
        let home = env.root().join("home");
        let init = match shell {
            "bash" => (home.join(".bashrc"), "eval \"$(git agent init bash)\"\n"),
            "zsh" => (home.join(".zshrc"), "eval \"$(git agent init zsh)\"\n"),
            _ => (
                env.root().join("config/fish/config.fish"),
                "git agent init fish | source\n",
            ),
        };
        std::fs::create_dir_all(init.0.parent().unwrap()).unwrap();
        std::fs::write(&init.0, init.1).unwrap();
        let path = format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            prefix.join("bin").display()
        );
        let run = |line: &str| {
            let mut cmd = Command::new(shell);
            env.isolate(&mut cmd);
            cmd.args(["-i", "-c", line])
                .current_dir(env.root())
                .env("PATH", &path)
                .env_remove("ZDOTDIR")
                .env("MANPAGER", "cat")
                .env("PAGER", "cat")
                .env("MANWIDTH", "100")
                .stdin(std::process::Stdio::null());
            match manpath {
                Some(m) => cmd.env("MANPATH", m),
                None => cmd.env_remove("MANPATH"),
            };
            cmd.output().unwrap()
        };
        let out = run("git agent --help");
        let shown = text(&out.stdout);
        assert!(
            out.status.success() && shown.contains("NAME") && shown.contains("EXIT STATUS"),
            "{shell} {manpath:?}: git agent --help: {shown}\n{}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains("No manual entry"));
        let out = run("git agent help add");
        let shown = text(&out.stdout);
        assert!(
            shown.contains("git-agent-add") && shown.contains("--no-cd"),
            "{shell}: {shown}"
        );
        let out = run("git agent -h");
        let shown = text(&out.stdout);
        assert!(
            shown.starts_with("A slot per parallel coding agent") && shown.contains("Usage:"),
            "{shell}: {shown}"
        );
        assert!(prefix.join("share/man/man1/git-agent-rm.1").is_file());
    }
}
