//! Running the user's own database tools (`psql`, `sqlite3`, `neonctl`), found with `which`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use anyhow::{Context as _, Result};

/// A tool and how to install it, for the error when it is missing.
pub struct Tool {
    pub name: &'static str,
    pub install: &'static str,
}

pub const PSQL: Tool = Tool {
    name: "psql",
    install: "Debian/Ubuntu: `apt install postgresql-client`; Homebrew: `brew install libpq` (then `brew link --force libpq`)",
};
pub const SQLITE3: Tool = Tool {
    name: "sqlite3",
    install: "Debian/Ubuntu: `apt install sqlite3`; Homebrew: `brew install sqlite`",
};
pub const NEONCTL: Tool = Tool {
    name: "neonctl",
    install: "`npm install -g neonctl`; Homebrew: `brew install neonctl`",
};

impl Tool {
    pub fn find(&self) -> Result<PathBuf> {
        which::which(self.name).map_err(|_| {
            anyhow::anyhow!(
                "{} was not found on PATH; install it ({}) or add its directory to PATH",
                self.name,
                self.install
            )
        })
    }

    pub fn command(&self) -> Result<Command> {
        // In git-agent's own process group, so that whatever stops git-agent (Ctrl-C, a kill
        // of the group) stops the tool too: no child outlives the command unseen. What a
        // killed tool may have left on a server is named by the slot's record beforehand.
        Ok(Command::new(self.find()?))
    }
}

/// Runs a command with `input` on stdin (nothing when `None`) and collects its output.
pub fn run(cmd: &mut Command, input: Option<&str>) -> Result<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not run {program}"))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A tool that exits early closes the pipe; its exit status tells the story.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("could not run {program}"))?;
    crate::txn::child_status(&out.status)?;
    Ok(out)
}

/// The tool's error text, trimmed, on one line per original line.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}
