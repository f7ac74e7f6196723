//! The repository a command runs in (`Ctx`), the current directory as the shell sees it, and
//! handing the process over to a program (`run_child`): what every subcommand shares, kept
//! apart from `cmd/` so modules that hold logic can use it without reaching into the commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::error::{Kind, fail};
use crate::git::Repo;
use crate::slot::{self, Slot};

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
        let config = Config::load_for(&repo)?;
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

    /// What SLOT means for `rm`, `exec`, `path`, `task`, `env` and `merge`: the slot named
    /// (by name or branch), else the slot the current directory is in. `command` names the
    /// command in the message that says how to name one.
    pub fn slot_or_here(&self, wanted: Option<&str>, command: &str) -> Result<Slot> {
        match wanted {
            Some(name) => slot::find(&self.repo.common_dir, name),
            None => self.slot_here(command),
        }
    }

    /// The slot whose directory holds the current directory. Outside one, the error says how
    /// to name one, and inside a worktree that is not a slot, how to make it one.
    pub fn slot_here(&self, command: &str) -> Result<Slot> {
        let slots = slot::load_all(&self.repo.common_dir)?;
        let dir = &self.cwd;
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        let found = slots.iter().filter(|s| {
            let root = std::fs::canonicalize(&s.path).unwrap_or_else(|_| s.path.clone());
            real.starts_with(&root) || dir.starts_with(&s.path)
        });
        if let Some(slot) = found.max_by_key(|s| s.path.as_os_str().len()) {
            return Ok(slot.clone());
        }
        let name_one = format!("name one (`git agent {command} SLOT`)");
        let why = match crate::worktrees::containing(&self.repo, &slots, dir) {
            Some(other) => format!("{}; or {name_one}", other.hint()),
            None if slots.is_empty() => format!(
                "{} is not inside a slot, and this repository has none yet; `git agent add BRANCH` makes one",
                dir.display()
            ),
            None => {
                let names: Vec<&str> = slots.iter().map(|s| s.name.as_str()).collect();
                format!(
                    "{} is not inside a slot; {name_one}: {}",
                    dir.display(),
                    names.join(", ")
                )
            }
        };
        Err(fail(Kind::Usage, why))
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
    match e.kind() {
        _ if !dir.is_dir() => Err(fail(
            Kind::CannotRun,
            crate::git::start_error(program, Some(dir), &e),
        )),
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
