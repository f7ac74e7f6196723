//! git-agent: a slot per parallel coding agent.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod envfile;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod names;
pub mod output;
pub mod paths;
pub mod ports;
pub mod quote;
pub mod registry;
pub mod services;
pub mod slot;
pub mod slotenv;
pub mod template;
pub mod txn;

use clap::Parser;

/// Parses the command line, runs the command and returns the process exit code.
pub fn run() -> i32 {
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
