//! Man pages, generated from the clap definition: `git-agent.1` and one page per subcommand
//! (`git-agent-add.1`, ...), as `git help agent` and `man git-agent-add` expect them. Each
//! ends with the EXIT STATUS table.
//!
//! They are written beside the binary, into `<prefix>/share/man/man1` for a binary in
//! `<prefix>/bin`, where man-db looks for the programs on PATH. `git agent init` (run at every
//! shell start) writes them there when they are missing or were written by another build, so
//! `git agent --help` opens the page right after installing and adding the init line. Whether
//! they are current is one small file read and two stats: the stamp in git-agent's state dir
//! names the directory and the build (version, size and time of the binary) that wrote them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Every page as (file name, roff text), in a stable order.
pub fn pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut out);
    out
}

/// Writes every page into `dir` and records the stamp. Returns the pages' names.
pub fn install(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "could not create {} (choose another place with --dir)",
            dir.display()
        )
    })?;
    let pages = pages();
    for (name, text) in &pages {
        crate::fsutil::write_generated(&dir.join(name), text)?;
    }
    if let (Ok(state), Some(build)) = (crate::paths::state_dir(), build()) {
        crate::fsutil::create_private_dir(&state)?;
        let stamp = format!("{}\n{build}\n", dir.display());
        crate::fsutil::write_atomic(&state.join(STAMP), stamp.as_bytes())?;
    }
    Ok(pages.into_iter().map(|(name, _)| name).collect())
}

/// Makes sure this build's pages are where man finds them, writing them beside the binary
/// when they are missing or another build wrote them. Quiet: it runs at every shell start, and
/// a place it cannot write to is what `doctor` reports. Returns the directory holding them.
pub fn ensure() -> Option<PathBuf> {
    if let Some(dir) = current() {
        return Some(dir);
    }
    let dir = default_dir().ok()?;
    install(&dir).ok()?;
    Some(dir)
}

/// The directory of this build's pages, if the stamp says they are written and they are there.
pub fn current() -> Option<PathBuf> {
    let stamp = std::fs::read_to_string(crate::paths::state_dir().ok()?.join(STAMP)).ok()?;
    let (dir, build_line) = stamp.split_once('\n')?;
    let dir = PathBuf::from(dir);
    (build_line.trim_end() == build()? && dir.join("git-agent.1").is_file()).then_some(dir)
}

/// The stamp file in git-agent's state dir.
const STAMP: &str = "man-pages";

/// What tells this build from another: the version, and the size and modification time of the
/// binary (a rebuilt or reinstalled binary of the same version may have other commands).
fn build() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{} {} {}",
        env!("CARGO_PKG_VERSION"),
        meta.len(),
        modified.as_nanos()
    ))
}

/// `<prefix>/share/man/man1` for the binary at `<prefix>/bin/git-agent`, taking `<prefix>/bin`
/// from the PATH entry that holds this binary (perhaps as a symlink), as man-db does.
pub fn default_dir() -> Result<PathBuf> {
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

/// The man root (`.../share/man`) to add to MANPATH so man finds the pages in `dir`: when
/// MANPATH is set, man searches only there (unless it has an empty entry, which stands for
/// the default search path that PATH leads to).
pub fn manpath_missing(dir: &Path) -> Option<PathBuf> {
    let root = dir.parent()?.to_path_buf();
    let manpath = std::env::var_os("MANPATH").filter(|m| !m.is_empty())?;
    let manpath = manpath.to_string_lossy().into_owned();
    let entries: Vec<&str> = manpath.split(':').collect();
    let covered = entries.iter().any(|e| e.is_empty())
        || entries
            .iter()
            .any(|e| crate::fsutil::same_path(Path::new(e), &root));
    (!covered).then_some(root)
}

/// What `install-man` says when man will not find the pages as things are.
pub fn manpath_note(dir: &Path) -> Option<String> {
    let root = manpath_missing(dir)?;
    Some(format!(
        "MANPATH is set, so man searches only there; add {} to it (the shell integration from          `git agent init` does so in the shells that load it)",
        root.display()
    ))
}

/// The page of `command` (`None`: git-agent's own), as a path if this build's pages are
/// written, else as the name man looks up.
pub fn page(command: Option<&str>) -> String {
    let name = match command {
        Some(c) => format!("git-agent-{c}.1"),
        None => "git-agent.1".to_string(),
    };
    match current() {
        Some(dir) if dir.join(&name).is_file() => dir.join(&name).display().to_string(),
        _ => name.trim_end_matches(".1").to_string(),
    }
}

fn collect(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
    let man = clap_mangen::Man::new(cmd.clone()).manual("git-agent manual");
    let mut text = Vec::new();
    // The sections clap_mangen renders, but the exit statuses as a table of their own
    // instead of its EXTRA section, which runs the long help's lines together. Rendering
    // into memory cannot fail.
    let _ = man.render_title(&mut text);
    let _ = man.render_name_section(&mut text);
    let _ = man.render_synopsis_section(&mut text);
    let _ = man.render_description_section(&mut text);
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        let _ = man.render_options_section(&mut text);
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        let _ = man.render_subcommands_section(&mut text);
    }
    text.extend_from_slice(exit_status_section().as_bytes());
    if cmd.get_version().is_some() {
        let _ = man.render_version_section(&mut text);
    }
    out.push((man.get_filename(), text));
    // `help` opens these pages; it has none of its own.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        collect(sub, out);
    }
}

/// `.SH "EXIT STATUS"` with one tagged paragraph per status.
fn exit_status_section() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, kind, meaning) in crate::error::EXIT_STATUSES {
        let label = if kind.is_empty() {
            String::new()
        } else {
            format!(" ({kind})")
        };
        roff.push_str(&format!(
            ".TP\n\\fB{code}\\fR{label}\n{}\n",
            escape(meaning)
        ));
    }
    roff.push_str(&format!(".PP\n{}\n", escape(crate::error::EXIT_NOTES)));
    roff
}

/// Text safe on a roff line: backslashes doubled, a leading dot or quote guarded, dashes
/// kept as typed.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}
