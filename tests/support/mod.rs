//! Shared test harness: a temp dir with isolated HOME, XDG dirs and git config, real git
//! repositories in it, and the built binary run as `git-agent` or through `git agent`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Env {
    pub tmp: tempfile::TempDir,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_git-agent"))
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::Builder::new()
            .prefix("ga-test")
            .tempdir()
            .unwrap();
        // Canonical, so paths printed by the binary compare equal to ours.
        let env = Env { tmp };
        for dir in ["home", "state", "config", "data", "cache", "runtime"] {
            std::fs::create_dir_all(env.root().join(dir)).unwrap();
        }
        std::fs::write(
            env.root().join("gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        env
    }

    pub fn root(&self) -> PathBuf {
        std::fs::canonicalize(self.tmp.path()).unwrap()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state").join("git-agent")
    }

    pub fn config_file(&self) -> PathBuf {
        self.root()
            .join("config")
            .join("git-agent")
            .join("config.toml")
    }

    /// Applies the isolated environment to any command.
    pub fn isolate(&self, cmd: &mut Command) {
        let root = self.root();
        let bin_dir = bin().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("HOME", root.join("home"))
            .env("XDG_STATE_HOME", root.join("state"))
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("data"))
            .env("XDG_CACHE_HOME", root.join("cache"))
            .env("XDG_RUNTIME_DIR", root.join("runtime"))
            .env("GIT_CONFIG_GLOBAL", root.join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PATH", path)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("__GIT_AGENT_STATE")
            .env_remove("GIT_AGENT_ROOT")
            .env_remove("GIT_AGENT_SLOT")
            .env_remove("GIT_AGENT_DIRECTIVE")
            .env_remove("PORT")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGUSER")
            .env_remove("PGDATABASE");
    }

    /// `git-agent ARGS` run in `dir`.
    pub fn cmd(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(bin());
        self.isolate(&mut cmd);
        cmd.current_dir(dir)
            .env("PWD", dir)
            .stdin(std::process::Stdio::null());
        cmd
    }

    pub fn run(&self, dir: &Path, args: &[&str]) -> Output {
        self.cmd(dir).args(args).output().unwrap()
    }

    /// `git agent ARGS` (through git, as users run it).
    pub fn run_git_agent(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new("git");
        self.isolate(&mut cmd);
        cmd.current_dir(dir)
            .arg("agent")
            .args(args)
            .stdin(std::process::Stdio::null());
        cmd.output().unwrap()
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "git-agent {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs and asserts failure with the given exit code, returning stderr.
    pub fn fails(&self, dir: &Path, args: &[&str], code: i32) -> String {
        let out = self.run(dir, args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "git-agent {args:?}: expected exit {code}\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stderr)
    }

    /// A git command in `dir` with the isolated environment.
    pub fn git(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.isolate(&mut cmd);
        let out = cmd.current_dir(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// A worktree made by hand on a new branch (`git worktree add -q -b BRANCH PATH`), as
    /// plain git and other tools make them.
    pub fn worktree_add(&self, repo: &Path, branch: &str, path: &Path) {
        self.git(
            repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                branch,
                path.to_str().unwrap(),
            ],
        );
    }

    /// A new repository `name` with one commit on `main`.
    pub fn repo(&self, name: &str) -> PathBuf {
        let dir = self.root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.git(&dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("README"), "hello\n").unwrap();
        self.git(&dir, &["add", "README"]);
        self.git(&dir, &["commit", "-q", "-m", "initial"]);
        dir
    }

    /// Commits a file in `dir`.
    pub fn commit(&self, dir: &Path, file: &str, content: &str) {
        std::fs::write(dir.join(file), content).unwrap();
        self.git(dir, &["add", "--", file]);
        self.git(dir, &["commit", "-q", "-m", &format!("change {file}")]);
    }

    /// Parsed JSON from `git-agent ARGS`.
    pub fn json(&self, dir: &Path, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(dir, args)).unwrap()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
