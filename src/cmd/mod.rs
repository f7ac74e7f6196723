//! One module per subcommand; this file dispatches (what they share is in `crate::context`).

use anyhow::Result;

use crate::cli::Command;

mod add;
mod adopt;
mod approve;
mod cd;
mod claude;
mod doctor;
mod env;
mod exec;
mod help;
mod hook_env;
mod init;
mod install_man;
mod ls;
mod merge;
mod path;
mod prune;
mod rm;
mod task;

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Add(args) => add::run(&args),
        Command::Ls(args) => ls::run(&args),
        Command::Env(args) => env::run(&args),
        Command::Exec(args) => exec::run(&args),
        Command::Path(args) => path::run(&args),
        Command::Rm(args) => rm::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Prune(args) => prune::run(&args),
        Command::Task(args) => task::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Adopt(args) => adopt::run(&args),
        Command::Approve(args) => approve::run(&args),
        Command::Cd(args) => cd::run(&args),
        Command::Init(args) => init::run(&args),
        Command::InstallMan(args) => install_man::run(&args),
        Command::Claude(args) => claude::run(&args),
        Command::Help(args) => help::run(&args),
        Command::HookEnv(args) => hook_env::run(&args),
    }
}
