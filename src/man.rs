//! Man pages, generated from the clap definition: `git-agent.1` and one page per subcommand
//! (`git-agent-add.1`, ...), as `git help agent` and `man git-agent-add` expect them.

use clap::CommandFactory;

/// Every page as (file name, roff text), in a stable order.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut out);
    out
}

fn collect(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
    let man = clap_mangen::Man::new(cmd.clone()).manual("git-agent manual");
    let mut text = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render(&mut text);
    out.push((man.get_filename(), text));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, out);
    }
}
