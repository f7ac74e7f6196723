//! `git agent init bash|zsh|fish`: prints the shell integration script (hook, cd directive,
//! completion) for the user's rc file to evaluate at startup.

use anyhow::{Context, Result};

use crate::cli::Init;
use crate::{output, registry, shell};

pub fn run(args: &Init) -> Result<()> {
    if args.completions {
        return output::print(&shell::completion_script(args.shell));
    }
    // The hook runs exactly this binary, wherever PATH points later.
    let bin = std::env::current_exe().context("could not find the path of the git-agent binary")?;
    let roots = registry::roots_path(&registry::dir()?);
    output::print(&shell::init_script(
        args.shell,
        &bin,
        &roots,
        &shell::directive_dir()?,
    ))
}
