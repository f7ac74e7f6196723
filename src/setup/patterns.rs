//! `[setup] copy` patterns: git's wildmatch rules (`*` stays within a directory, `**` crosses
//! them) matched against what exists in the main worktree, refusing any that would reach
//! outside it; ignored and untracked paths only, as the checkout brings the tracked ones.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use gix::bstr::{BStr, ByteSlice};

use crate::git;

/// The paths (relative to `main`) that a pattern names.
pub fn expand(main: &Path, pattern: &str) -> Result<Vec<PathBuf>> {
    let clean = check_pattern(pattern)?;
    let segments: Vec<&str> = clean.split('/').collect();
    let first_glob = segments.iter().position(|s| has_glob(s));
    let Some(first_glob) = first_glob else {
        // A plain path: no walk needed.
        let rel = PathBuf::from(&clean);
        return Ok(if main.join(&rel).symlink_metadata().is_ok() {
            vec![rel]
        } else {
            vec![]
        });
    };
    let start: PathBuf = segments[..first_glob].iter().collect();
    let depth = if clean.contains("**") {
        usize::MAX
    } else {
        segments.len()
    };
    let mut out = Vec::new();
    walk(
        main,
        &start,
        first_glob,
        depth,
        clean.as_bytes().as_bstr(),
        &mut out,
    )?;
    out.sort();
    Ok(out)
}

/// Relative, inside the worktree, and in git's `/`-separated form.
fn check_pattern(pattern: &str) -> Result<String> {
    let trimmed = pattern.trim_start_matches("./").trim_end_matches('/');
    let path = Path::new(trimmed);
    if trimmed.is_empty()
        || path.is_absolute()
        || path.components().any(|c| matches!(c, Component::ParentDir))
    {
        bail!(
            "[setup] copy: '{pattern}' must be a path or glob relative to the main worktree, without '..'"
        );
    }
    if path.components().any(|c| c.as_os_str() == ".git") {
        bail!("[setup] copy: '{pattern}' names git's own directory, which is never copied");
    }
    Ok(trimmed.to_string())
}

fn has_glob(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '\\'])
}

fn walk(
    main: &Path,
    dir: &Path,
    level: usize,
    depth: usize,
    pattern: &BStr,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let entries = match std::fs::read_dir(main.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("could not read {}", main.join(dir).display()));
        }
    };
    for entry in entries {
        let entry =
            entry.with_context(|| format!("could not read {}", main.join(dir).display()))?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let rel = dir.join(&name);
        let text = git_path(&rel);
        if gix::glob::wildmatch(
            pattern,
            text.as_bytes().as_bstr(),
            gix::glob::wildmatch::Mode::NO_MATCH_SLASH_LITERAL,
        ) {
            out.push(rel);
            continue;
        }
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        // Another repository or worktree (a slot inside the main worktree) is not ours to copy.
        if is_dir && level + 1 < depth && !main.join(&rel).join(".git").exists() {
            walk(main, &rel, level + 1, depth, pattern, out)?;
        }
    }
    Ok(())
}

/// A relative path as git writes it.
pub(super) fn git_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The tracked files of the main worktree, and every directory that holds one.
pub(super) struct Tracked {
    pub(super) files: HashSet<String>,
    pub(super) dirs: HashSet<String>,
}

impl Tracked {
    pub(super) fn read(main: &Path) -> Result<Tracked> {
        let mut cmd = git::git_in(main);
        cmd.args(["-c", "core.quotePath=false", "ls-files", "-z", "--cached"]);
        let text = git::run(cmd)?;
        let mut files = HashSet::new();
        let mut dirs = HashSet::new();
        for file in text.split('\0').filter(|f| !f.is_empty()) {
            let mut rest = file;
            while let Some((parent, _)) = rest.rsplit_once('/') {
                if !dirs.insert(parent.to_string()) {
                    break;
                }
                rest = parent;
            }
            files.insert(file.to_string());
        }
        Ok(Tracked { files, dirs })
    }
}

/// The untracked and ignored paths inside a directory that also holds tracked files, with
/// wholly untracked directories given as one path.
pub(super) fn untracked_in(main: &Path, dir: &str) -> Result<Vec<PathBuf>> {
    let mut cmd = git::git_in(main);
    cmd.args(["ls-files", "-z", "--others", "--directory", "--"])
        .arg(format!(":(literal){dir}/"));
    let text = git::run(cmd)?;
    Ok(text
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(p.trim_end_matches('/')))
        .filter(|p| !main.join(p).join(".git").exists())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_must_stay_inside() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../b",
            ".git",
            ".git/config",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
        assert_eq!(check_pattern("./node_modules/").unwrap(), "node_modules");
    }

    #[test]
    fn expands_like_git() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for file in [
            "a/x.local.yml",
            "a/y.yml",
            "a/b/z.local.yml",
            ".env",
            "n/m/k",
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "").unwrap();
        }
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/x.local.yml"), "").unwrap();
        let names = |p: &str| -> Vec<String> {
            expand(root, p)
                .unwrap()
                .iter()
                .map(|p| git_path(p))
                .collect()
        };
        assert_eq!(names("a/*.local.yml"), ["a/x.local.yml"]);
        assert_eq!(
            names("**/*.local.yml"),
            ["a/b/z.local.yml", "a/x.local.yml"]
        );
        assert_eq!(names(".env"), [".env"]);
        assert_eq!(names("*.env"), [".env"]);
        assert_eq!(names("n"), ["n"]);
        assert_eq!(names("n/*"), ["n/m"]);
        assert!(names("nothing*").is_empty());
        assert!(names("missing").is_empty());
    }
}
