//! The real programs that read what git-agent writes (Django, SQLAlchemy, python-dotenv,
//! redis-py, Node dotenv, dotenv-expand, @next/env, @libsql/client, sqlx, Diesel), installed at pinned
//! versions by `scripts/install-test-readers` outside the work tree. A test that needs them
//! fails, saying how to install them, when they are missing: it never passes without them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Readers {
    dir: PathBuf,
}

fn source() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

impl Readers {
    pub fn get() -> Readers {
        let dir = match std::env::var_os("GIT_AGENT_TEST_READERS") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
                .join("git-agent-test-readers"),
        };
        let pins = source().join("tests/readers");
        let want = format!(
            "{}{}",
            std::fs::read_to_string(pins.join("requirements.txt")).unwrap(),
            std::fs::read_to_string(pins.join("package-lock.json")).unwrap()
        );
        let have = std::fs::read_to_string(dir.join("installed.txt")).unwrap_or_default();
        assert!(
            have.trim_end() == want.trim_end(),
            "the real readers (Django, SQLAlchemy, python-dotenv, Node dotenv, ...) are not installed in {} \
             at the versions pinned in tests/readers/: run scripts/install-test-readers (bash .ci/run does), \
             or point GIT_AGENT_TEST_READERS at an install",
            dir.display()
        );
        Readers { dir }
    }

    /// The venv's python.
    pub fn python(&self) -> PathBuf {
        self.dir.join("venv/bin/python")
    }

    /// `node` with the pinned packages on NODE_PATH.
    pub fn node(&self) -> Command {
        let mut cmd = Command::new("node");
        cmd.env("NODE_PATH", self.dir.join("node/node_modules"));
        cmd
    }

    /// The Rust probe that opens `$DATABASE_URL` with sqlx or Diesel (tests/readers/rust),
    /// stamped apart from the Python and Node readers.
    pub fn sqlite_probe(&self) -> PathBuf {
        let pins = source().join("tests/readers/rust");
        let want: String = ["Cargo.lock", "src/main.rs"]
            .iter()
            .map(|f| std::fs::read_to_string(pins.join(f)).unwrap())
            .collect();
        let have = std::fs::read_to_string(self.dir.join("rust.txt")).unwrap_or_default();
        assert!(
            have.trim_end() == want.trim_end(),
            "sqlx and Diesel's probe is not built in {} from tests/readers/rust: run \
             scripts/install-test-readers (bash .ci/run does)",
            self.dir.display()
        );
        self.dir.join("bin/sqlite-probe")
    }

    /// The venv's python and node, in `cwd` with a clean environment.
    pub fn python_in(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(self.python());
        clean(&mut cmd, cwd);
        cmd
    }

    pub fn node_in(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new("node");
        clean(&mut cmd, cwd);
        cmd.env("NODE_PATH", self.dir.join("node/node_modules"));
        cmd
    }

    pub fn script(name: &str) -> PathBuf {
        source().join("tests/readers").join(name)
    }
}

/// Runs and returns stdout, failing with both streams when the program fails.
pub fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A clean environment for a reader: only what it needs to start, so nothing of the test's
/// own environment leaks into what it reads.
pub fn clean(cmd: &mut Command, cwd: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", cwd)
        .env("LANG", "C.UTF-8")
        .current_dir(cwd);
}
