//! `git agent help [COMMAND]`: opens the man page (writing this build's pages first when they
//! are missing or stale), and prints the built-in help where there is no man or no page.

use anyhow::Result;

use crate::cli::Help;
use crate::error::{Kind, SilentExit, fail};

pub fn run(args: &Help) -> Result<()> {
    let mut cli = crate::cli::command();
    cli.build();
    let name = match &args.command {
        Some(wanted) => match cli.find_subcommand(wanted) {
            Some(sub) => Some(sub.get_name().to_string()),
            None => {
                let names: Vec<&str> = cli
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set())
                    .map(|s| s.get_name())
                    .collect();
                return Err(fail(
                    Kind::Usage,
                    format!("no command '{wanted}'; the commands: {}", names.join(", ")),
                ));
            }
        },
        None => None,
    };
    crate::man::ensure();
    let page = crate::man::page(name.as_deref());
    match std::process::Command::new("man").arg(&page).status() {
        Ok(status) if status.success() => return Ok(()),
        // 16: man found no such page; fall back to the built-in help below.
        Ok(status) if status.code() != Some(16) => {
            return Err(SilentExit(status.code().unwrap_or(1)).into());
        }
        _ => {}
    }
    let help = match &name {
        Some(name) => match cli.find_subcommand_mut(name) {
            Some(sub) => sub.render_long_help(),
            None => cli.render_long_help(),
        },
        None => cli.render_long_help(),
    };
    crate::output::print(&help.to_string())
}
