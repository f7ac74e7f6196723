//! `git agent install-man [--dir DIR]`: writes the man pages beside the binary, into
//! `<prefix>/share/man/man1` for a binary in `<prefix>/bin`. man-db derives its search path
//! from PATH that way, so `man git-agent` and `git agent --help` then find them.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::InstallMan;

pub fn run(args: &InstallMan) -> Result<()> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => default_dir()?,
    };
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "could not create {} (choose another place with --dir)",
            dir.display()
        )
    })?;
    let pages = crate::man::pages();
    for (name, text) in &pages {
        let path = dir.join(name);
        crate::fsutil::write_atomic_mode(&path, text, 0o644)?;
    }
    eprintln!(
        "git-agent: installed {} man pages in {}",
        pages.len(),
        dir.display()
    );
    if std::env::var_os("MANPATH").is_some_and(|p| !p.is_empty()) {
        eprintln!(
            "git-agent: note: MANPATH is set, so man searches only there; add {} to it",
            dir.parent().unwrap_or(&dir).display()
        );
    }
    if args.json {
        let names: Vec<&String> = pages.iter().map(|(name, _)| name).collect();
        return crate::output::print_json(&serde_json::json!({
            "version": crate::output::JSON_VERSION,
            "dir": dir,
            "pages": names,
        }));
    }
    Ok(())
}

/// `<prefix>/share/man/man1` for the binary at `<prefix>/bin/git-agent`, taking `<prefix>/bin`
/// from the PATH entry that holds this binary (perhaps as a symlink), as man-db does.
fn default_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("could not find the path of the git-agent binary")?;
    let real = std::fs::canonicalize(&exe).unwrap_or_else(|_| exe.clone());
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path).find(|dir| {
            dir.is_absolute()
                && std::fs::canonicalize(dir.join("git-agent")).is_ok_and(|p| p == real)
        })
    });
    let bin = match on_path {
        Some(dir) => dir,
        None => exe
            .parent()
            .context("the binary has no parent directory")?
            .to_path_buf(),
    };
    let prefix = bin
        .parent()
        .context("the binary's directory has no parent")?;
    Ok(prefix.join("share").join("man").join("man1"))
}
