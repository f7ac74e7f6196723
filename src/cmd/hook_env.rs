//! `git-agent hook-env DIR` (hidden): what the shell hook runs when the shell enters, leaves
//! or switches slots; prints the records for the hook to apply (worked out by
//! `crate::shell_env`) and the line that says what changed.

use anyhow::Result;

use crate::cli::HookEnv;
use crate::config::Config;
use crate::{output, shell_env};

pub fn run(args: &HookEnv) -> Result<()> {
    // A broken config must not break every prompt: go on with the safe defaults.
    let (quiet, allow_env) = match Config::load_user_only() {
        Ok(config) => (config.hook.quiet, config.trust.allow_env),
        Err(e) => {
            eprintln!(
                "git-agent: warning: {e:#}; the shell hook goes on with the default settings"
            );
            (false, Vec::new())
        }
    };
    let quiet =
        quiet || std::env::var_os("GIT_AGENT_QUIET").is_some_and(|v| !v.is_empty() && v != "0");
    let (records, line) = shell_env::respond(&args.dir, &allow_env)?;
    if !quiet && let Some(line) = line {
        eprintln!("{line}");
    }
    output::print(&records)
}
