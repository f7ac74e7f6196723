//! `[setup] run`: commands run one after another with `sh -c` in the slot, with its
//! environment. Their output goes to stderr (git-agent's stdout carries only the slot's path
//! or JSON) under a header per command; their stdin is empty, so a command that asks a
//! question gets end-of-file instead of hanging an unattended `add`.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::txn;

pub fn run(commands: &[String], dir: &Path, env: &BTreeMap<String, String>) -> Result<()> {
    run_as("setup", commands, dir, env, &[])
}

/// Runs `commands` like `run`, each under the header `label [i/n]`, with the variables named
/// in `unset` removed from the inherited environment before `env` is applied.
pub fn run_as(
    label: &str,
    commands: &[String],
    dir: &Path,
    env: &BTreeMap<String, String>,
    unset: &[String],
) -> Result<()> {
    let total = commands.len();
    for (i, command) in commands.iter().enumerate() {
        txn::check_interrupt()?;
        eprintln!("git-agent: {label} [{}/{total}] {command}", i + 1);
        let stdout = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .context("could not pass stderr to the setup command")?;
        let mut cmd = Command::new("sh");
        for name in unset {
            cmd.env_remove(name);
        }
        let status = cmd
            .arg("-c")
            .arg(command)
            .current_dir(dir)
            // The slot's repository, not one a caller's GIT_DIR points at.
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_COMMON_DIR")
            .env_remove("GIT_PREFIX")
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .status()
            .with_context(|| format!("could not run sh for a {label} command"))?;
        // Ctrl-C reached the command too (maybe before git-agent's own handler ran): the
        // interrupt is what to report.
        txn::child_status(&status)?;
        txn::check_interrupt()?;
        if !status.success() {
            bail!(
                "{label} command {}/{total} failed ({}): {command}",
                i + 1,
                describe(status)
            );
        }
    }
    Ok(())
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}
