//! git-agent: a slot per parallel coding agent.

pub mod cli;
pub mod cmd;
pub mod complete;
pub mod config;
pub mod envfile;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod man;
pub mod names;
pub mod output;
pub mod paths;
pub mod ports;
pub mod provision;
pub mod quote;
pub mod registry;
pub mod services;
pub mod setup;
pub mod shell;
pub mod slot;
pub mod slotenv;
pub mod template;
pub mod txn;

use clap::Parser;

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> i32 {
    // A TAB in the shell runs us with GIT_AGENT_COMPLETE set: answer and exit, before anything
    // else reads the command line or writes to stdout.
    complete::complete_if_asked();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    match cmd::run(cli.command) {
        Ok(()) => 0,
        Err(error) => {
            if error.downcast_ref::<error::SilentExit>().is_none() {
                eprintln!("git-agent: error: {error:#}");
            }
            error::exit_code(&error)
        }
    }
}
