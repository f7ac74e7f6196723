//! `git agent init bash|zsh|fish`: prints the shell integration script (hook, cd directive,
//! completion) for the user's rc file to evaluate at startup. It also makes sure this build's
//! man pages are where man finds them, so `git agent --help` works with no step of its own.

use anyhow::{Context, Result};

use crate::cli::{Init, Shell};
use crate::{output, quote, registry, shell};

pub fn run(args: &Init) -> Result<()> {
    if args.completions {
        return output::print(&shell::completion_script(args.shell));
    }
    // The hook runs exactly this binary, wherever PATH points later.
    let bin = std::env::current_exe().context("could not find the path of the git-agent binary")?;
    let roots = registry::roots_path(&registry::dir()?);
    let mut script = shell::init_script(args.shell, &bin, &roots, &shell::directive_dir()?);
    if let Some(root) = crate::man::ensure().and_then(|dir| crate::man::manpath_missing(&dir)) {
        let root = root.to_string_lossy();
        script.push_str(&match args.shell {
            Shell::Bash | Shell::Zsh => format!(
                "# man searches only MANPATH when it is set: add git-agent's pages to it.\nexport MANPATH=\"$MANPATH\":{}\n",
                quote::posix(&root)
            ),
            Shell::Fish => format!(
                "# man searches only MANPATH when it is set: add git-agent's pages to it.\nset -gx MANPATH $MANPATH {}\n",
                quote::fish(&root)
            ),
        });
    }
    output::print(&script)
}
