//! `git agent cd [SLOT]`: moves the shell into a slot (or, without SLOT, the main worktree)
//! through the directive file of the shell integration. A child process cannot change its
//! shell's directory, so without the integration it prints the path and says how.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::cli::Cd;
use crate::git::Repo;
use crate::{output, registry, shell, slot};

pub fn run(args: &Cd) -> Result<()> {
    let target = match args.slot.as_deref() {
        // Back to where the last `add` or `cd` moved this shell from.
        Some("-") => match shell::previous() {
            Some(previous) => previous?,
            None => bail!(
                "`git agent cd -` goes back in the shell it is typed in, which needs the shell integration \
                 (`eval \"$(git agent init bash)\"` in ~/.bashrc; zsh: `init zsh`; fish: `git agent init fish | source`)"
            ),
        },
        wanted => target(wanted)?,
    };
    if !target.is_dir() {
        bail!(
            "{} does not exist any more; `git agent prune` forgets slots whose directory is gone",
            target.display()
        );
    }
    if shell::send_cd(&target)? {
        return Ok(());
    }
    eprintln!(
        "git-agent: shell integration is not active here, so your shell stays where it is; \
         run `cd \"$(git agent path SLOT)\"`, or add `eval \"$(git agent init bash)\"` (zsh: `init zsh`; \
         fish: `git agent init fish | source`) to your shell's startup file"
    );
    output::print(&format!("{}\n", target.display()))
}

/// The slot's directory: looked up in the repository around us, else by name among all the
/// user's slots (so `git agent cd x` works from anywhere when the name is unique).
fn target(wanted: Option<&str>) -> Result<PathBuf> {
    let repo = crate::context::current_dir().and_then(|dir| Repo::discover(&dir));
    match (wanted, repo) {
        (None, Ok(repo)) if !repo.has_main_worktree() => bail!(
            "the bare repository {} has no worktree of its default branch to go to; name a slot",
            repo.common_dir.display()
        ),
        (None, Ok(repo)) => Ok(repo.main_worktree),
        (None, Err(e)) => Err(e.context(
            "name a slot, or run `git agent cd` in a repository to go to its main worktree",
        )),
        (Some(name), Ok(repo)) => Ok(slot::find(&repo.common_dir, name)?.path),
        (Some(name), Err(_)) => {
            let registry = registry::load()?;
            let found: Vec<&registry::Entry> =
                registry.slots.iter().filter(|e| e.name == name).collect();
            match found.as_slice() {
                [one] => Ok(one.root.clone()),
                [] => {
                    bail!("no slot '{name}' among your slots; see `git agent ls` in a repository")
                }
                many => {
                    let roots: Vec<String> =
                        many.iter().map(|e| e.root.display().to_string()).collect();
                    bail!(
                        "several slots are named '{name}' ({}); run `git agent cd {name}` inside the repository you mean",
                        roots.join(", ")
                    )
                }
            }
        }
    }
}
