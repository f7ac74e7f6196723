//! Shell integration in real interactive bash, zsh and fish under a pseudo-terminal: env on
//! cd (enter, subdirectory, switch, leave with restore), cd after add and `git agent cd`,
//! other prompt hooks and `$?` kept, adversarial values round-tripping with nothing executed,
//! untrusted look-alike directories, dangerous names, and no process at an unchanged prompt.
//!
//! Each session is driven by lines typed into the shell; after each step a helper (`__t N`)
//! dumps the shell's directory and exported environment into files and prints `<okN>`, which
//! the test waits for. The typed text never contains that marker, only the output does.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use expectrl::{Expect, Session};
use support::{Env, text};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bash,
    Zsh,
    Fish,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bash => "bash",
            Kind::Zsh => "zsh",
            Kind::Fish => "fish",
        }
    }
}

/// One interactive shell under a pty, with its own scratch directory for dumps.
struct Shell {
    session: expectrl::session::OsSession,
    kind: Kind,
    out: PathBuf,
    step: usize,
}

/// What a step saw: the shell's directory and exported environment.
struct Seen {
    pwd: String,
    env: BTreeMap<String, String>,
    status: String,
}

impl Seen {
    fn var(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }
}

/// Everything an rc file needs besides the init line: the dump helper, a plain prompt, and
/// `pre` (what the user had before git-agent) and `post` (after it) lines.
fn rc_text(kind: Kind, out: &Path, pre: &str, post: &str) -> String {
    let out = out.display();
    match kind {
        Kind::Bash | Kind::Zsh => format!(
            r#"{pre}
eval "$(git agent init {shell})"
{post}
PS1='$ '
__t() {{
  local s=$?
  printf '%s' "$PWD" > '{out}'/pwd$1
  printf '%s' "$s" > '{out}'/status$1
  command env -0 > '{out}'/env$1
  printf '<ok%s>\n' "$1"
}}
"#,
            shell = kind.name()
        ),
        Kind::Fish => format!(
            r#"{pre}
git agent init fish | source
{post}
function fish_prompt; printf '$ '; end
function fish_greeting; end
function __t
  set -l s $status
  printf '%s' $PWD > '{out}'/pwd$argv[1]
  printf '%s' $s > '{out}'/status$argv[1]
  command env -0 > '{out}'/env$argv[1]
  printf '<ok%s>\n' $argv[1]
end
"#
        ),
    }
}

impl Shell {
    /// Starts `kind` interactively in `dir`, with `pre` lines before the init line in its rc
    /// file and `post` lines after it.
    fn start(env: &Env, kind: Kind, dir: &Path, pre: &str, post: &str) -> Shell {
        Shell::start_with(env, kind, dir, pre, post, &[])
    }

    /// `start`, with variables already in the environment the shell starts with.
    fn start_with(
        env: &Env,
        kind: Kind,
        dir: &Path,
        pre: &str,
        post: &str,
        vars: &[(&str, &str)],
    ) -> Shell {
        let out = tempfile::Builder::new()
            .prefix("ga-shell")
            .tempdir_in(env.root())
            .unwrap()
            .keep();
        let rc = rc_text(kind, &out, pre, post);
        let mut cmd = match kind {
            Kind::Bash => {
                let file = out.join("bashrc");
                std::fs::write(&file, rc).unwrap();
                let mut cmd = Command::new("bash");
                cmd.arg("--noprofile").arg("--rcfile").arg(file).arg("-i");
                cmd
            }
            Kind::Zsh => {
                let zdotdir = out.join("zdotdir");
                std::fs::create_dir_all(&zdotdir).unwrap();
                std::fs::write(zdotdir.join(".zshrc"), rc).unwrap();
                let mut cmd = Command::new("zsh");
                cmd.arg("--no-globalrcs").arg("-i").env("ZDOTDIR", zdotdir);
                cmd
            }
            Kind::Fish => {
                let conf = env.root().join("config").join("fish");
                std::fs::create_dir_all(&conf).unwrap();
                std::fs::write(conf.join("config.fish"), rc).unwrap();
                let mut cmd = Command::new("fish");
                cmd.arg("-i");
                cmd
            }
        };
        env.isolate(&mut cmd);
        cmd.current_dir(dir)
            .env("PWD", dir)
            .env("TERM", "xterm")
            .env_remove("PROMPT_COMMAND");
        cmd.envs(vars.iter().copied());
        let mut session =
            Session::spawn(cmd).unwrap_or_else(|e| panic!("could not start {}: {e}", kind.name()));
        session.get_process_mut().set_window_size(400, 50).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(60)));
        Shell {
            session,
            kind,
            out,
            step: 0,
        }
    }

    /// Types `line`, waits until the shell has run it and drawn the next prompt, and returns
    /// what the shell looks like then.
    fn run(&mut self, line: &str) -> Seen {
        self.session.send_line(line).unwrap();
        self.check()
    }

    /// The state at the current prompt.
    fn check(&mut self) -> Seen {
        self.step += 1;
        let n = self.step;
        self.session.send_line(format!("__t {n}")).unwrap();
        let marker = format!("<ok{n}>");
        if let Err(e) = self.session.expect(marker.as_str()) {
            panic!("{}: no {marker}: {e}", self.kind.name());
        }
        let read = |what: &str| std::fs::read(self.out.join(format!("{what}{n}"))).unwrap();
        let env = read("env")
            .split(|b| *b == 0)
            .filter(|e| !e.is_empty())
            .filter_map(|e| {
                let e = String::from_utf8_lossy(e).into_owned();
                e.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        Seen {
            pwd: text(&read("pwd")),
            env,
            status: text(&read("status")),
        }
    }

    fn scratch(&self) -> &Path {
        &self.out
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.session.send_line("exit");
        let _ = self.session.get_process_mut().exit(true);
    }
}

/// A slot's leased PORT, as `git agent env --json` reports it.
fn port(env: &Env, repo: &Path, slot: &str) -> String {
    env.json(repo, &["env", slot, "--json"])["env"]["PORT"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A repository with two slots, a and b, made by `git agent add`.
fn two_slots(env: &Env) -> (PathBuf, PathBuf, PathBuf) {
    let repo = env.repo("app");
    let a = PathBuf::from(env.ok(&repo, &["add", "feature/a"]).trim());
    let b = PathBuf::from(env.ok(&repo, &["add", "feature/b"]).trim());
    (repo, a, b)
}

/// A stand-in for the binary that logs each call's first argument, to count hook-env runs.
fn counting_wrapper(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("calls.log");
    let wrapper = dir.join("git-agent-counted");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            support::bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (wrapper, log)
}

fn hook_env_calls(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == "hook-env")
        .count()
}

fn set_bin_line(kind: Kind, wrapper: &Path) -> String {
    match kind {
        Kind::Bash | Kind::Zsh => format!("__git_agent_bin='{}'", wrapper.display()),
        Kind::Fish => format!("set -g __git_agent_bin '{}'", wrapper.display()),
    }
}

/// The whole journey in one shell: enter, subdirectory, switch, leave with restore, a value
/// the user changed by hand kept, cd after add, `git agent cd`, `rm` of the slot it stands
/// in, an untrusted look-alike, `$?` kept; and the binary runs exactly once per transition.
fn journey(kind: Kind) {
    let env = Env::new();
    let (repo, a, b) = two_slots(&env);
    std::fs::create_dir_all(a.join("src/deep")).unwrap();
    let (wrapper, log) = counting_wrapper(&env.root());
    // PORT was set before any slot; MINE is set only by slot a (a user line in its env file).
    let pre = match kind {
        Kind::Fish => "set -gx PORT 80".to_string(),
        _ => "export PORT=80".to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(a.join(".env.local"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"MINE=from-a\nEDITED=slot-value\n").unwrap();
    let (port_a, port_b) = (
        port(&env, &repo, "feature-a"),
        port(&env, &repo, "feature-b"),
    );
    let mut sh = Shell::start(&env, kind, &repo, &pre, &set_bin_line(kind, &wrapper));

    let start = sh.check();
    assert_eq!(start.var("PORT"), Some("80"));
    assert_eq!(start.var("GIT_AGENT_SLOT"), None);
    assert!(
        start.var("GIT_AGENT_DIRECTIVE").is_some(),
        "init exports the directive path"
    );
    assert_eq!(
        hook_env_calls(&log),
        0,
        "outside any slot the binary never runs"
    );

    // Enter.
    let seen = sh.run(&format!("cd '{}'", a.display()));
    assert_eq!(seen.var("PORT"), Some(port_a.as_str()));
    assert_eq!(
        seen.var("MINE"),
        Some("from-a"),
        "the user's own lines in .env.local are exported too"
    );
    assert_eq!(seen.var("GIT_AGENT_SLOT"), Some("feature-a"));
    assert_eq!(seen.var("GIT_AGENT_ROOT"), Some(a.to_str().unwrap()));
    assert!(seen.var("__GIT_AGENT_STATE").is_some());
    assert_eq!(hook_env_calls(&log), 1);

    // Subdirectories and prompts inside the slot run nothing.
    let seen = sh.run("cd src/deep");
    assert_eq!(seen.var("PORT"), Some(port_a.as_str()));
    for _ in 0..5 {
        sh.run("");
    }
    sh.run("cd ..");
    // The user changes a slot variable by hand; leaving must not undo that.
    let set_edited = match kind {
        Kind::Fish => "set -gx EDITED by-hand",
        _ => "export EDITED=by-hand",
    };
    sh.run(set_edited);
    assert_eq!(
        hook_env_calls(&log),
        1,
        "no run of the binary inside the slot"
    );

    // Switch: b's values replace a's, a's own variables go.
    let seen = sh.run(&format!("cd '{}'", b.display()));
    assert_eq!(seen.var("PORT"), Some(port_b.as_str()));
    assert_eq!(seen.var("MINE"), None);
    assert_eq!(seen.var("EDITED"), Some("by-hand"));
    assert_eq!(seen.var("GIT_AGENT_SLOT"), Some("feature-b"));
    assert_eq!(hook_env_calls(&log), 2);

    // Leave: the value from before any slot comes back.
    let seen = sh.run(&format!("cd '{}'", env.root().display()));
    assert_eq!(seen.var("PORT"), Some("80"));
    assert_eq!(seen.var("GIT_AGENT_SLOT"), None);
    assert_eq!(seen.var("GIT_AGENT_ROOT"), None);
    assert_eq!(seen.var("__GIT_AGENT_STATE"), None);
    assert_eq!(
        seen.var("EDITED"),
        Some("by-hand"),
        "a value changed by hand stays"
    );
    assert_eq!(hook_env_calls(&log), 3);

    // A look-alike: a directory with an .env.local and a forged slot record, not in the
    // user's registry, gets nothing and runs nothing.
    let fake = env.root().join("lookalike");
    std::fs::create_dir_all(fake.join(".git/agent/slots")).unwrap();
    std::fs::write(fake.join(".env.local"), "PORT=6666\nFAKE=1\n").unwrap();
    std::fs::write(fake.join(".git/agent/slots/x.toml"), "name = 'x'\n").unwrap();
    let seen = sh.run(&format!("cd '{}'", fake.display()));
    assert_eq!(seen.var("PORT"), Some("80"));
    assert_eq!(seen.var("FAKE"), None);
    assert_eq!(hook_env_calls(&log), 3);

    // `$?` of the user's command survives the hook.
    sh.run(&format!("cd '{}'", repo.display()));
    sh.session.send_line("false").unwrap();
    assert_eq!(sh.check().status, "1");
    sh.session.send_line("true").unwrap();
    assert_eq!(sh.check().status, "0");

    // cd after add: the shell is in the new slot with its variables at the next prompt.
    let seen = sh.run("git agent add feature/c");
    let c = repo.parent().unwrap().join("app-worktrees/feature-c");
    assert_eq!(seen.pwd, c.to_str().unwrap());
    assert_eq!(seen.var("GIT_AGENT_SLOT"), Some("feature-c"));
    assert_eq!(
        seen.var("PORT"),
        Some(port(&env, &repo, "feature-c").as_str())
    );
    // --no-cd stays.
    let seen = sh.run("git agent add feature/d --no-cd");
    assert_eq!(seen.pwd, c.to_str().unwrap());

    // git agent cd SLOT, and back to the main worktree.
    let seen = sh.run("git agent cd feature-a");
    assert_eq!(seen.pwd, a.to_str().unwrap());
    assert_eq!(seen.var("PORT"), Some(port_a.as_str()));
    // A program the shell started (an agent, a script) cannot move the shell, even with a
    // terminal and the inherited variable.
    let seen = sh.run("sh -c 'git agent cd feature-b; true'");
    assert_eq!(seen.pwd, a.to_str().unwrap());
    let seen = sh.run("git agent cd");
    assert_eq!(seen.pwd, repo.to_str().unwrap());
    assert_eq!(seen.var("PORT"), Some("80"));

    // Removing the slot the shell stands in sends it to the main worktree.
    sh.run("git agent cd feature-d");
    let seen = sh.run("git agent rm feature-d");
    assert_eq!(seen.pwd, repo.to_str().unwrap());
    assert_eq!(seen.var("GIT_AGENT_SLOT"), None);
}

#[test]
fn journey_bash() {
    journey(Kind::Bash);
}

#[test]
fn journey_zsh() {
    journey(Kind::Zsh);
}

#[test]
fn journey_fish() {
    journey(Kind::Fish);
}

/// Values that break naive quoting, and names that could take over the shell.
fn adversarial_values() -> Vec<(&'static str, &'static str)> {
    vec![
        ("V_SUBST", "$(touch PWNED1)"),
        ("V_BACKTICK", "`touch PWNED2`"),
        ("V_SINGLE", "it's '; touch PWNED3; '"),
        ("V_DOUBLE", "say \"hi\"; touch PWNED4; \""),
        ("V_TRAILING_BACKSLASH", "ends with \\"),
        ("V_FISH_ESCAPE", "x\\'; touch PWNED5; echo \\"),
        ("V_NEWLINES", "line one\nline two\n"),
        ("V_PERCENT", "100% %s %d %%"),
        ("V_UNICODE", "ünïcødé ✓ 日本語 🙂"),
        ("V_EMPTY", ""),
        ("V_SPACES", "  spaced  out  "),
        ("V_DOLLAR", "$HOME ${PATH} $1 $$"),
        ("V_GLOB", "* ? [a-z] ~"),
        ("V_BANG", "!! !$ ^x^y"),
        ("V_TAB_CR", "a\tb\rc"),
        ("V_DASH", "-n"),
        ("V_SEMICOLON", "a; touch PWNED6 && b | c > d"),
    ]
}

const DANGEROUS: &[(&str, &str)] = &[
    ("LD_PRELOAD", "/tmp/evil.so"),
    ("PROMPT_COMMAND", "touch PWNED7"),
    ("BASH_ENV", "/tmp/evil.sh"),
    ("PATH", "/evil"),
    ("PS1", "$(touch PWNED8)"),
    ("PROMPT", "$(touch PWNED9)"),
    ("__git_agent_bin", "/tmp/evil-binary"),
    ("fish_greeting", "evil"),
    ("GIT_DIR", "/tmp/evil"),
];

fn adversarial(kind: Kind) {
    let env = Env::new();
    let (repo, a, _) = two_slots(&env);
    let mut lines = String::new();
    for (key, value) in adversarial_values().iter().chain(DANGEROUS) {
        lines.push_str(&format!(
            "{key}={}\n",
            git_agent::envfile::quote_value(value)
        ));
    }
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(a.join(".env.local"))
        .unwrap();
    std::io::Write::write_all(&mut file, lines.as_bytes()).unwrap();
    let mut sh = Shell::start(&env, kind, &repo, "", "");
    let outside = sh.check();

    let seen = sh.run(&format!("cd '{}'", a.display()));
    for (key, value) in adversarial_values() {
        assert_eq!(
            seen.var(key),
            Some(value),
            "{} through the hook: {key}",
            kind.name()
        );
    }
    for (key, _) in DANGEROUS {
        assert_eq!(
            seen.var(key),
            outside.var(key),
            "{} exported the dangerous {key}",
            kind.name()
        );
    }

    // The same values through `git agent env --shell X`, evaluated by the shell.
    sh.run(&format!("cd '{}'", repo.display()));
    let eval = match kind {
        Kind::Fish => "git agent env feature-a --shell fish | source".to_string(),
        _ => format!(
            "eval \"$(git agent env feature-a --shell {})\"",
            kind.name()
        ),
    };
    let seen = sh.run(&eval);
    for (key, value) in adversarial_values() {
        assert_eq!(
            seen.var(key),
            Some(value),
            "{} through env --shell: {key}",
            kind.name()
        );
    }
    for (key, _) in DANGEROUS {
        assert_eq!(
            seen.var(key),
            outside.var(key),
            "{} env --shell exported {key}",
            kind.name()
        );
    }
    for dir in [&repo, &a, &sh.scratch().to_path_buf(), &env.root()] {
        for n in 1..=9 {
            assert!(
                !dir.join(format!("PWNED{n}")).exists(),
                "{}: a value was executed (PWNED{n})",
                kind.name()
            );
        }
    }
}

#[test]
fn adversarial_values_bash() {
    adversarial(Kind::Bash);
}

#[test]
fn adversarial_values_zsh() {
    adversarial(Kind::Zsh);
}

#[test]
fn adversarial_values_fish() {
    adversarial(Kind::Fish);
}

/// A PROMPT_COMMAND the user had, as a string or an array, still runs after ours, and sees
/// the exit status of the user's command.
#[test]
fn prompt_command_string_and_array_keep_running() {
    let env = Env::new();
    let (repo, a, _) = two_slots(&env);
    for (pre, files) in [
        (
            "__pc() { echo \"$?\" >> \"$PC_DIR/one\"; }\nPROMPT_COMMAND='__pc'",
            vec!["one"],
        ),
        (
            "__pc1() { echo \"$?\" >> \"$PC_DIR/one\"; }\n__pc2() { echo \"$?\" >> \"$PC_DIR/two\"; }\nPROMPT_COMMAND=(__pc1 __pc2)",
            vec!["one", "two"],
        ),
    ] {
        let pc_dir = tempfile::tempdir_in(env.root()).unwrap();
        let pre = format!("export PC_DIR='{}'\n{pre}", pc_dir.path().display());
        let mut sh = Shell::start(&env, Kind::Bash, &repo, &pre, "");
        sh.check();
        let seen = sh.run(&format!("cd '{}'", a.display()));
        assert_eq!(
            seen.var("GIT_AGENT_SLOT"),
            Some("feature-a"),
            "the hook runs with PROMPT_COMMAND {pre}"
        );
        sh.session.send_line("sh -c 'exit 7'").unwrap();
        sh.check();
        sh.session.send_line("sh -c 'exit 9'").unwrap();
        sh.check();
        for file in files {
            let statuses = std::fs::read_to_string(pc_dir.path().join(file)).unwrap();
            assert_statuses_seen(&statuses, file);
        }
    }
}

/// The hook after ours saw the statuses 7 and then 9 of the commands typed (among the 0s of
/// the other prompts), so ours kept `$?`.
fn assert_statuses_seen(log: &str, what: &str) {
    let statuses: Vec<&str> = log.lines().collect();
    let seven = statuses.iter().position(|s| *s == "7");
    let nine = statuses.iter().position(|s| *s == "9");
    assert!(
        matches!((seven, nine), (Some(s), Some(n)) if s < n),
        "{what}: {statuses:?}"
    );
}

/// zsh: other precmd/chpwd hooks keep running; fish: other prompt handlers too.
#[test]
fn other_hooks_keep_running_zsh_and_fish() {
    let env = Env::new();
    let (repo, a, _) = two_slots(&env);
    let marks = tempfile::tempdir_in(env.root()).unwrap();
    let m = marks.path().display();
    let zsh_pre = format!("__mine() {{ echo \"$?\" >> '{m}/zsh'; }}\nprecmd_functions+=(__mine)");
    let fish_pre =
        format!("function __mine --on-event fish_prompt; echo $status >> '{m}/fish'; end");
    for (kind, pre) in [(Kind::Zsh, zsh_pre), (Kind::Fish, fish_pre)] {
        let mut sh = Shell::start(&env, kind, &repo, &pre, "");
        sh.check();
        assert_eq!(
            sh.run(&format!("cd '{}'", a.display()))
                .var("GIT_AGENT_SLOT"),
            Some("feature-a")
        );
        sh.session.send_line("sh -c 'exit 7'").unwrap();
        sh.check();
        sh.session.send_line("sh -c 'exit 9'").unwrap();
        sh.check();
        let statuses = std::fs::read_to_string(marks.path().join(kind.name())).unwrap();
        assert_statuses_seen(&statuses, kind.name());
    }
}

/// A nested shell started inside a slot (or a tmux pane inheriting its environment) keeps the
/// slot without running the binary; one started elsewhere puts the old values back.
#[test]
fn nested_shells_inherit_and_restore() {
    let env = Env::new();
    let (repo, a, _) = two_slots(&env);
    let (wrapper, log) = counting_wrapper(&env.root());
    let post = set_bin_line(Kind::Bash, &wrapper);
    let mut sh = Shell::start_with(&env, Kind::Bash, &repo, "", &post, &[("PORT", "80")]);
    sh.check();
    sh.run(&format!("cd '{}'", a.display()));
    assert_eq!(hook_env_calls(&log), 1);
    // A nested bash in the slot: same values, no new run of the binary.
    let rc = sh.scratch().join("bashrc");
    let seen = sh.run(&format!("bash --noprofile --rcfile '{}' -i", rc.display()));
    assert_eq!(
        seen.var("PORT"),
        Some(port(&env, &repo, "feature-a").as_str())
    );
    assert_eq!(hook_env_calls(&log), 1);
    sh.session.send_line("exit").unwrap();
    sh.check();
    // A nested bash started outside the slot, with the slot's environment inherited.
    let seen = sh.run(&format!(
        "cd '{}' && bash --noprofile --rcfile '{}' -i",
        repo.display(),
        rc.display()
    ));
    assert_eq!(seen.var("PORT"), Some("80"));
    assert_eq!(seen.var("GIT_AGENT_SLOT"), None);
}

/// The same-directory prompt spawns no process: two sessions that differ only in how many
/// prompts (and cds inside the slot) they go through make the same number of forks.
fn forks(kind: Kind, prompts: usize) -> usize {
    let env = Env::new();
    let (repo, a, _) = two_slots(&env);
    std::fs::create_dir_all(a.join("sub")).unwrap();
    let trace = env.root().join("trace");
    let shell_args: Vec<String> = match kind {
        Kind::Bash => vec![
            "bash".into(),
            "--noprofile".into(),
            "--norc".into(),
            "-i".into(),
        ],
        Kind::Zsh => vec!["zsh".into(), "-f".into(), "-i".into()],
        Kind::Fish => vec!["fish".into(), "--no-config".into(), "-i".into()],
    };
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-e", "trace=fork,vfork,clone,clone3", "-o"])
        .arg(&trace)
        .args(&shell_args);
    env.isolate(&mut cmd);
    cmd.current_dir(&repo).env("TERM", "dumb");
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(60)));
    // Load the hook, then mark the point from which forks are counted by entering the slot.
    let init = match kind {
        Kind::Fish => "git agent init fish | source".to_string(),
        _ => format!("eval \"$(git agent init {})\"", kind.name()),
    };
    session.send_line(init).unwrap();
    if kind == Kind::Fish {
        // fish's default prompt runs git for its VCS part; a plain prompt leaves only ours.
        session
            .send_line("function fish_prompt; printf '> '; end")
            .unwrap();
    }
    session.send_line(format!("cd '{}'", a.display())).unwrap();
    let mark = |n: u32| match kind {
        Kind::Fish => format!("echo '<'(math 40 + {n})'>'"),
        _ => format!("echo \"<$((40+{n}))>\""),
    };
    session.send_line(mark(2)).unwrap();
    session.expect("<42>").unwrap();
    for i in 0..prompts {
        session
            .send_line(if i % 10 == 5 {
                "cd sub"
            } else if i % 10 == 6 {
                "cd .."
            } else {
                ""
            })
            .unwrap();
    }
    session.send_line(mark(3)).unwrap();
    session.expect("<43>").unwrap();
    session.send_line("exit").unwrap();
    let _ = session.expect(expectrl::Eof);
    let _ = session.get_process().wait();
    let log = std::fs::read_to_string(&trace).unwrap();
    // Processes only: fish starts threads for highlighting as it pleases.
    log.lines()
        .filter(|l| {
            ["fork(", "vfork(", "clone(", "clone3("]
                .iter()
                .any(|c| l.contains(c))
        })
        .filter(|l| !l.contains("resumed") && !l.contains("CLONE_THREAD"))
        .count()
}

fn no_process_at_unchanged_prompt(kind: Kind) {
    let probe = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output();
    match probe {
        Err(e) => panic!("strace is needed for this test (Debian package strace): {e}"),
        Ok(out) if !out.status.success() => panic!(
            "strace cannot trace processes here (is ptrace forbidden?): {}",
            text(&out.stderr)
        ),
        Ok(_) => {}
    }
    let few = forks(kind, 5);
    let many = forks(kind, 200);
    assert!(
        few > 0,
        "{}: the trace saw no fork at all, so it proves nothing",
        kind.name()
    );
    assert_eq!(
        few,
        many,
        "{}: 195 more prompts and cds inside the slot spawned {} processes",
        kind.name(),
        many.abs_diff(few)
    );
}

#[test]
fn no_process_at_unchanged_prompt_bash() {
    no_process_at_unchanged_prompt(Kind::Bash);
}

#[test]
fn no_process_at_unchanged_prompt_zsh() {
    no_process_at_unchanged_prompt(Kind::Zsh);
}

#[test]
fn no_process_at_unchanged_prompt_fish() {
    no_process_at_unchanged_prompt(Kind::Fish);
}

/// The records `git-agent hook-env -- DIR` prints, as (op, name, value): the hook's own call,
/// which skips the command-line parser, and the same as `hook-env DIR` through it.
fn hook_env(
    env: &Env,
    dir: &Path,
    vars: &[(&str, &str)],
) -> (Vec<(String, String, Option<String>)>, String) {
    let run = |args: &[&std::ffi::OsStr]| {
        let mut cmd = env.cmd(dir);
        cmd.args(args).envs(vars.iter().copied());
        cmd.output().unwrap()
    };
    let out = run(&["hook-env".as_ref(), "--".as_ref(), dir.as_os_str()]);
    let parsed = run(&["hook-env".as_ref(), dir.as_os_str()]);
    assert!(out.status.success(), "hook-env: {}", text(&out.stderr));
    assert_eq!(
        (&out.stdout, text(&out.stderr)),
        (&parsed.stdout, text(&parsed.stderr)),
        "the hook's call and the parsed one differ"
    );
    let fields: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut records = Vec::new();
    let mut it = fields.into_iter();
    while let Some(op) = it.next() {
        match op.as_str() {
            "set" => records.push((op, it.next().unwrap(), it.next())),
            "unset" => records.push((op, it.next().unwrap(), None)),
            "" => break,
            other => panic!("unknown record {other}"),
        }
    }
    (records, text(&out.stderr))
}

fn names_set(records: &[(String, String, Option<String>)]) -> Vec<&str> {
    records
        .iter()
        .filter(|r| r.0 == "set")
        .map(|r| r.1.as_str())
        .collect()
}

/// A directory listed in the roots file (which the shell reads) but not in the registry (the
/// binary's source of truth) gets nothing: tampering with the hint does not grant trust.
#[test]
fn hook_env_trusts_only_the_registry() {
    let env = Env::new();
    let (_, a, _) = two_slots(&env);
    let fake = env.root().join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join(".env.local"), "PORT=6666\n").unwrap();
    let roots = env.state_dir().join("roots");
    let mut listed = std::fs::read_to_string(&roots).unwrap();
    listed.push_str(&format!("{}\n", fake.display()));
    std::fs::write(&roots, listed).unwrap();
    let (records, _) = hook_env(&env, &fake, &[]);
    assert!(records.is_empty(), "{records:?}");
    std::fs::create_dir_all(a.join("sub/dir")).unwrap();
    let (records, stderr) = hook_env(&env, &a.join("sub/dir"), &[]);
    assert!(names_set(&records).contains(&"PORT"), "{records:?}");
    assert!(stderr.contains("entered slot feature-a"), "{stderr}");
}

/// A value holding NUL bytes (which would shift the records) is dropped, so it cannot smuggle
/// in a `set LD_PRELOAD ...` record; dangerous names are dropped with a warning.
#[test]
fn hook_env_values_cannot_forge_records() {
    let env = Env::new();
    let (_, a, _) = two_slots(&env);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(a.join(".env.local"))
        .unwrap();
    std::io::Write::write_all(
        &mut file,
        b"EVIL='x\0set\0LD_PRELOAD\0/tmp/evil.so'\nLD_PRELOAD=/tmp/evil.so\nOK=1\n",
    )
    .unwrap();
    let (records, stderr) = hook_env(&env, &a, &[]);
    let set = names_set(&records);
    assert!(set.contains(&"OK"), "{records:?}");
    assert!(
        !set.contains(&"EVIL") && !set.contains(&"LD_PRELOAD"),
        "{records:?}"
    );
    assert!(
        stderr.contains("EVIL") && stderr.contains("NUL"),
        "{stderr}"
    );
    assert!(stderr.contains("not exporting LD_PRELOAD"), "{stderr}");
}

/// One line on entering and leaving, none with `[hook] quiet = true` or GIT_AGENT_QUIET=1; a
/// broken config warns and the hook goes on; a damaged state is ignored with a warning.
#[test]
fn hook_env_messages_quiet_and_damage() {
    let env = Env::new();
    let (_, a, _) = two_slots(&env);
    let (records, stderr) = hook_env(&env, &a, &[]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let state = records
        .iter()
        .find(|r| r.1 == "__GIT_AGENT_STATE")
        .and_then(|r| r.2.clone())
        .unwrap();
    let port = records
        .iter()
        .find(|r| r.1 == "PORT")
        .and_then(|r| r.2.clone())
        .unwrap();
    let inside = [
        ("__GIT_AGENT_STATE", state.as_str()),
        ("PORT", port.as_str()),
    ];
    let (records, stderr) = hook_env(&env, &env.root(), &inside);
    assert_eq!(stderr.trim(), "git-agent: left slot feature-a");
    assert!(
        records.contains(&("unset".into(), "PORT".into(), None)),
        "{records:?}"
    );
    assert!(
        records.contains(&("unset".into(), "__GIT_AGENT_STATE".into(), None)),
        "{records:?}"
    );

    let (_, stderr) = hook_env(&env, &a, &[("GIT_AGENT_QUIET", "1")]);
    assert_eq!(stderr, "");
    std::fs::create_dir_all(env.config_file().parent().unwrap()).unwrap();
    std::fs::write(env.config_file(), "[hook]\nquiet = true\n").unwrap();
    let (_, stderr) = hook_env(&env, &a, &[]);
    assert_eq!(stderr, "");

    std::fs::write(env.config_file(), "[hook\nquiet = \n").unwrap();
    let (records, stderr) = hook_env(&env, &a, &[]);
    assert!(
        stderr.contains("warning") && stderr.contains("config.toml"),
        "{stderr}"
    );
    assert!(names_set(&records).contains(&"PORT"), "{records:?}");
    std::fs::remove_file(env.config_file()).unwrap();

    let (records, stderr) = hook_env(&env, &a, &[("__GIT_AGENT_STATE", "{not json")]);
    assert!(stderr.contains("damaged __GIT_AGENT_STATE"), "{stderr}");
    assert!(names_set(&records).contains(&"PORT"));
}

/// Without shell integration (or without a terminal, as for an agent that inherited the
/// variable), `cd` prints the path and says why the shell stays; a slot name works from
/// outside the repository when it is unique among the user's slots.
#[test]
fn cd_without_integration_prints_the_path() {
    let env = Env::new();
    let (repo, a, _) = two_slots(&env);
    let out = env.run(&repo, &["cd", "feature-a"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), a.display().to_string());
    assert!(
        text(&out.stderr).contains("shell integration is not active"),
        "{}",
        text(&out.stderr)
    );
    // The variable is set, but stdin is not a terminal: nothing is written for the shell.
    let directive = env.root().join("runtime/git-agent/cd.1");
    let mut cmd = env.cmd(&repo);
    let out = cmd
        .args(["cd", "feature-b"])
        .env("GIT_AGENT_DIRECTIVE", &directive)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!directive.exists());
    assert!(text(&out.stdout).trim().ends_with("feature-b"));
    // From anywhere, by a unique name; back to the main worktree without a name.
    assert_eq!(
        env.ok(&env.root(), &["cd", "feature-b"]).trim(),
        repo.parent()
            .unwrap()
            .join("app-worktrees/feature-b")
            .display()
            .to_string()
    );
    assert_eq!(env.ok(&a, &["cd"]).trim(), repo.display().to_string());
    let err = env.fails(&env.root(), &["cd", "nope"], 1);
    assert!(err.contains("no slot 'nope'"), "{err}");
}

/// The cd directive moves the shell only for a command typed at its prompt: not for
/// `p=$(git agent add x)` nor `git agent add x | cat`, which print the path for the caller.
/// `git agent add` of an existing slot goes there, and `git agent cd -` goes back.
fn typed_at_the_prompt(kind: Kind) {
    let env = Env::new();
    let repo = env.repo("app");
    let slot = |name: &str| repo.parent().unwrap().join("app-worktrees").join(name);
    let mut sh = Shell::start(&env, kind, &repo, "", "");
    let capture = match kind {
        Kind::Fish => "set -gx CAPTURED (git agent add cap)",
        _ => "export CAPTURED=\"$(git agent add cap)\"",
    };
    let seen = sh.run(capture);
    assert_eq!(
        seen.pwd,
        repo.to_str().unwrap(),
        "{kind:?}: $(...) moved the shell"
    );
    assert_eq!(seen.var("CAPTURED"), slot("cap").to_str());
    let seen = sh.run("git agent add piped | cat");
    assert_eq!(
        seen.pwd,
        repo.to_str().unwrap(),
        "{kind:?}: a pipe moved the shell"
    );
    assert!(slot("piped").is_dir());

    let seen = sh.run("git agent add typed");
    assert_eq!(seen.pwd, slot("typed").to_str().unwrap());
    assert_eq!(seen.var("GIT_AGENT_SLOT"), Some("typed"));
    // An existing slot's name goes there; no second slot.
    let seen = sh.run("git agent add cap");
    assert_eq!(seen.pwd, slot("cap").to_str().unwrap());
    assert_eq!(seen.var("GIT_AGENT_SLOT"), Some("cap"));
    assert!(!slot("cap-2").exists());
    // Back and forth.
    let seen = sh.run("git agent cd -");
    assert_eq!(seen.pwd, slot("typed").to_str().unwrap());
    let seen = sh.run("git agent cd -");
    assert_eq!(seen.pwd, slot("cap").to_str().unwrap());
    let seen = sh.run("git agent cd");
    assert_eq!(seen.pwd, repo.to_str().unwrap());
    let seen = sh.run("git agent cd -");
    assert_eq!(seen.pwd, slot("cap").to_str().unwrap());
    assert_eq!(
        env.json(&repo, &["ls", "--json"]).as_array().unwrap().len(),
        3
    );
}

#[test]
fn directive_only_when_typed_at_the_prompt_bash() {
    typed_at_the_prompt(Kind::Bash);
}

#[test]
fn directive_only_when_typed_at_the_prompt_zsh() {
    typed_at_the_prompt(Kind::Zsh);
}

#[test]
fn directive_only_when_typed_at_the_prompt_fish() {
    typed_at_the_prompt(Kind::Fish);
}
