//! One module per subcommand; this file dispatches and holds what they share.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::Command;
use crate::config::Config;
use crate::git::Repo;

mod add;
mod adopt;
mod approve;
mod cd;
mod doctor;
mod env;
mod exec;
mod hook_env;
mod init;
mod install_man;
mod ls;
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
        Command::Prune(args) => prune::run(&args),
        Command::Task(args) => task::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Adopt(args) => adopt::run(&args),
        Command::Approve(args) => approve::run(&args),
        Command::Cd(args) => cd::run(&args),
        Command::Init(args) => init::run(&args),
        Command::InstallMan(args) => install_man::run(&args),
        Command::HookEnv(args) => hook_env::run(&args),
    }
}

/// The repository around the current directory and its configuration.
pub struct Ctx {
    pub repo: Repo,
    pub config: Config,
    pub cwd: PathBuf,
}

impl Ctx {
    pub fn load() -> Result<Ctx> {
        let cwd = current_dir()?;
        let repo = Repo::discover(&cwd)?;
        let config = Config::load(&repo.main_worktree)?;
        Ok(Ctx { repo, config, cwd })
    }

    /// For commands on existing slots, which need the user's trust settings but not the
    /// repository's template (so a broken template cannot block them).
    pub fn load_existing() -> Result<Ctx> {
        let cwd = current_dir()?;
        let repo = Repo::discover(&cwd)?;
        let config = Config::load_user_only()?;
        Ok(Ctx { repo, config, cwd })
    }

    /// A slot's variables for running programs: the env file as data, filtered; the record's
    /// block if the file cannot be read.
    pub fn slot_env(&self, slot: &crate::slot::Slot) -> std::collections::BTreeMap<String, String> {
        crate::slotenv::read_or_written(
            &slot.path,
            &slot.env_file,
            |n| self.config.allows(n),
            || slot.env.clone(),
        )
    }
}

/// The current directory as the shell sees it (`$PWD` when it names the same place, so
/// symlinked paths stay as the user typed them).
pub fn current_dir() -> Result<PathBuf> {
    let real = std::env::current_dir()
        .context("could not read the current directory (was it deleted?)")?;
    if let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from)
        && pwd.is_absolute()
        && crate::fsutil::same_path(&pwd, &real)
    {
        return Ok(pwd);
    }
    Ok(real)
}

/// Runs a program with extra variables in `dir` in git-agent's place (exec): an agent or a dev
/// server gets the terminal and every signal sent to this process (Ctrl-C, and a SIGTERM or
/// SIGHUP aimed at git-agent's pid alike), and its exit status is git-agent's. Returns only
/// when the program could not be started.
pub fn run_child(
    dir: &Path,
    command: &[String],
    env: &std::collections::BTreeMap<String, String>,
) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let (program, args) = command.split_first().context("no command given")?;
    let e = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env)
        .exec();
    use crate::error::{Kind, fail};
    match e.kind() {
        std::io::ErrorKind::NotFound => Err(fail(
            Kind::NotFound,
            format!("command not found: {program}"),
        )),
        _ => Err(fail(
            Kind::CannotRun,
            format!("could not run {program}: {e}"),
        )),
    }
}
