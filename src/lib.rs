//! git-agent: a slot per parallel coding agent.

pub mod board;
pub mod claude;
pub mod cli;
pub mod cmd;
pub mod complete;
pub mod config;
pub mod context;
pub mod doctor;
pub mod dotenv_forms;
pub mod envfile;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod land;
pub mod man;
pub mod names;
pub mod output;
pub mod paths;
pub mod ports;
pub mod procs;
pub mod provision;
pub mod quote;
pub mod registry;
pub mod registry_repair;
pub mod removal;
pub mod services;
pub mod setup;
pub mod shell;
pub mod shell_env;
pub mod slot;
pub mod slot_lock;
pub mod slot_worktree;
pub mod slotenv;
pub mod submodules;
pub mod teardown;
pub mod template;
pub mod txn;
pub mod worktrees;

use clap::FromArgMatches;

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> i32 {
    // A TAB in the shell runs us with GIT_AGENT_COMPLETE set: answer and exit, before anything
    // else reads the command line or writes to stdout.
    complete::complete_if_asked();
    // The shell hook's own call, `hook-env -- DIR`, on every change of directory into or out
    // of a slot: answered without building the whole command line's parser, which is most of
    // this call's memory (4.9 -> 4.2 MB peak) and a sixth of its time (1.3 -> 1.1 ms).
    if let Some(dir) = hook_env_call(std::env::args_os().skip(1)) {
        return finish(cmd::run(cli::Command::HookEnv(cli::HookEnv { dir })), false);
    }
    let json = json_requested(std::env::args_os().skip(1));
    let parsed = cli::command()
        .try_get_matches()
        .and_then(|matches| cli::Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            let is_error = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            if json && is_error {
                let message = e.kind().as_str().unwrap_or("invalid command line");
                let error = error::fail(
                    error::Kind::Usage,
                    format!("{message}; see `git agent --help`"),
                );
                if let Some(text) = error::render(&error, true) {
                    eprintln!("{text}");
                }
                return error::Kind::Usage.exit_code();
            }
            if let Some(text) = dash_tip(&e) {
                eprint!("{text}");
                return e.exit_code();
            }
            let _ = e.print();
            return e.exit_code();
        }
    };
    finish(cmd::run(cli.command), json)
}

/// The exit code of a command's result, its error said on stderr.
fn finish(result: anyhow::Result<()>, json: bool) -> i32 {
    match result {
        Ok(()) => 0,
        Err(error) => {
            if let Some(text) = error::render(&error, json) {
                eprintln!("{text}");
            }
            error::exit_code(&error)
        }
    }
}

/// DIR, when the arguments are exactly the hook's `hook-env -- DIR`.
fn hook_env_call(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<std::path::PathBuf> {
    if args.next()? != "hook-env" || args.next()? != "--" {
        return None;
    }
    let dir = args.next()?;
    args.next().is_none().then(|| dir.into())
}

/// For `add -x` and `exec -x`: clap's tip to write `-- -x` would make `-x` the command to
/// run, so the error says what `--` means there instead.
fn dash_tip(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let command = std::env::args().skip(1).find(|a| !a.starts_with('-'))?;
    if !matches!(command.as_str(), "add" | "exec") {
        return None;
    }
    let arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => return None,
    };
    let what = if command == "add" {
        "a branch or slot"
    } else {
        "a slot"
    };
    let text = e.render().to_string();
    let (first, rest) = text.split_once('\n')?;
    let usage = rest.find("Usage:").map_or("", |at| &rest[at..]);
    let out = format!(
        "{first}\n\n  tip: {arg} is not an option of `git agent {command}`, and {what} name cannot start \
         with '-'; after `--` come the command to run in the slot and its arguments\n\n{usage}"
    );
    Some(out)
}

/// Whether `--json` is among git-agent's own arguments (before a `--` that starts a command
/// to run), so that even an error the command line itself has is reported as JSON.
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.take_while(|a| a != "--").any(|a| a == "--json")
}
