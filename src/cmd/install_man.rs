//! `git agent install-man [--dir DIR]`: writes the man pages beside the binary, into
//! `<prefix>/share/man/man1` for a binary in `<prefix>/bin`. man-db derives its search path
//! from PATH that way, so `man git-agent` and `git agent --help` then find them. `init` does
//! the same when they are missing or stale; this command is for another place, or to see it.

use anyhow::Result;

use crate::cli::InstallMan;

pub fn run(args: &InstallMan) -> Result<()> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => crate::man::default_dir()?,
    };
    let pages = crate::man::install(&dir)?;
    eprintln!(
        "git-agent: installed {} man pages in {}",
        pages.len(),
        dir.display()
    );
    if let Some(line) = crate::man::manpath_note(&dir) {
        eprintln!("git-agent: note: {line}");
    }
    if args.json {
        return crate::output::print_json(&serde_json::json!({
            "version": crate::output::JSON_VERSION,
            "dir": dir,
            "pages": pages,
        }));
    }
    Ok(())
}
