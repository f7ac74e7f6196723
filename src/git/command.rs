//! Running the `git` binary: in a directory, with its output read and its failures said
//! in words (what ran, where, and git's own message).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{Result, anyhow, bail};

/// A `git` command in `dir`, clean of inherited repository variables.
pub fn git_in(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_PREFIX")
        .env("LC_ALL", "C");
    cmd
}

/// Runs a git command, capturing output; a failure carries git's own message.
pub fn run(mut cmd: Command) -> Result<String> {
    let output = output(&mut cmd)?;
    if !output.status.success() {
        let text = failure_text(&cmd, &output);
        // git killed by the Ctrl-C that reached git-agent too is the interruption.
        if crate::txn::child_interrupted(&output.status) {
            return Err(crate::error::Interrupted.into());
        }
        bail!("{text}");
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub fn output(cmd: &mut Command) -> Result<Output> {
    // A missing working directory fails the start the same way a missing program does;
    // say which it was.
    if let Some(dir) = cmd.get_current_dir()
        && !dir.is_dir()
    {
        bail!(
            "could not run git in {}: the directory does not exist",
            dir.display()
        );
    }
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| start_error("git", cmd.get_current_dir(), &e))
}

/// Why a program could not be started, named by its real cause: the program missing from
/// PATH, the directory it was to run in gone, or what the system said.
pub fn start_error(program: &str, dir: Option<&Path>, e: &std::io::Error) -> anyhow::Error {
    if let Some(dir) = dir.filter(|d| !d.is_dir()) {
        return anyhow!(
            "could not run {program} in {}: the directory does not exist",
            dir.display()
        );
    }
    if e.kind() == std::io::ErrorKind::NotFound && which::which(program).is_err() {
        if program == "git" {
            return anyhow!(
                "git is not installed or not on PATH (Debian: apt install git; macOS: brew install git)"
            );
        }
        return anyhow!("{program} is not installed or not on PATH");
    }
    anyhow!("could not run {program}: {e}")
}

pub fn failure_text(cmd: &Command, output: &Output) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr
        .trim()
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ");
    format!(
        "`git {}` failed: {}",
        args.join(" "),
        if message.is_empty() {
            "no message"
        } else {
            message
        }
    )
}
