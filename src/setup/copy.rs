//! `[setup] copy`: files and directories the checkout does not bring (ignored or untracked:
//! `.env`, `node_modules`, local config) copied from the main worktree into a new slot.
//!
//! Patterns follow git's wildmatch rules (`*` stays within a directory, `**` crosses them),
//! matched against what exists in the main worktree. A matched directory is copied whole, by
//! `cp -a`, which keeps symlinks as symlinks, permissions and times, and on Linux with
//! `--reflink=auto` shares blocks where the filesystem can (btrfs, XFS): one process walks a
//! 100k-file `node_modules` instead of one copy call per file from here, and independent
//! groups are copied in parallel.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use gix::bstr::{BStr, ByteSlice};

use crate::git;
use crate::txn::{self, Txn};

/// At most this many sources per `cp` process (well below any argument-length limit).
const BATCH: usize = 200;

/// Copies what the patterns match from `main` into `slot`. Paths that already exist in the
/// slot are left alone. With `undo`, each copied path is removed again on rollback (for an
/// adopted worktree, which rollback does not delete).
pub fn copy(
    patterns: &[String],
    main: &Path,
    slot: &Path,
    undo: bool,
    txn: &mut Txn,
) -> Result<()> {
    let mut units: Vec<PathBuf> = Vec::new();
    let mut matched_any: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for pattern in patterns {
        let found = expand(main, pattern)?;
        if found.is_empty() {
            eprintln!(
                "git-agent: warning: [setup] copy: '{pattern}' matches nothing in {}",
                main.display()
            );
        }
        matched_any.push((pattern.clone(), found.clone()));
        units.extend(found);
    }
    if units.is_empty() {
        return Ok(());
    }
    let tracked = Tracked::read(main)?;
    let mut wanted: Vec<PathBuf> = Vec::new();
    for (pattern, found) in &matched_any {
        let mut any = false;
        for unit in found {
            let key = git_path(unit);
            if tracked.files.contains(&key) {
                continue;
            }
            any = true;
            if tracked.dirs.contains(&key) {
                // A directory holding tracked files: only what the checkout lacks.
                wanted.extend(untracked_in(main, &key)?);
            } else {
                wanted.push(unit.clone());
            }
        }
        if !any && !found.is_empty() {
            eprintln!(
                "git-agent: warning: [setup] copy: '{pattern}' matches only tracked files, which the checkout already has"
            );
        }
    }
    wanted.sort();
    wanted.dedup();
    // A path inside another one that is copied whole comes with it.
    let mut units: Vec<PathBuf> = Vec::new();
    for path in wanted {
        if !units.iter().any(|u| path.starts_with(u)) {
            units.push(path);
        }
    }
    let slot_real = std::fs::canonicalize(slot)
        .with_context(|| format!("could not resolve {}", slot.display()))?;
    let mut groups: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for unit in &units {
        let dest = slot.join(unit);
        if dest.symlink_metadata().is_ok() {
            eprintln!(
                "git-agent: [setup] copy: kept {}: it already exists in the slot",
                unit.display()
            );
            continue;
        }
        let parent = dest.parent().unwrap_or(slot).to_path_buf();
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
        // A symlinked directory in the slot must not lead the copy outside of it.
        let real = std::fs::canonicalize(&parent)
            .with_context(|| format!("could not resolve {}", parent.display()))?;
        if !real.starts_with(&slot_real) {
            eprintln!(
                "git-agent: warning: [setup] copy: skipped {}: {} leads outside the slot",
                unit.display(),
                parent.display()
            );
            continue;
        }
        groups.entry(parent).or_default().push(unit.clone());
    }
    let jobs: Vec<(PathBuf, Vec<PathBuf>)> = groups
        .into_iter()
        .flat_map(|(parent, list)| {
            list.chunks(BATCH)
                .map(|c| (parent.clone(), c.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect();
    let count: usize = jobs.iter().map(|(_, list)| list.len()).sum();
    if count == 0 {
        return Ok(());
    }
    let status =
        super::progress::Status::start(&format!("copying {count} path(s) from the main worktree"));
    let done = run_jobs(main, &jobs);
    drop(status);
    let (copied, error) = done;
    if undo {
        for unit in copied.iter().rev() {
            let dest = slot.join(unit);
            txn.on_undo(
                format!("removed the copied {}", dest.display()),
                move || remove_path(&dest),
            );
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    let names: Vec<String> = copied
        .iter()
        .take(5)
        .map(|p| p.display().to_string())
        .collect();
    let more = copied.len().saturating_sub(names.len());
    eprintln!(
        "git-agent: copied from the main worktree: {}{}",
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Runs the `cp` jobs, as many at once as there are CPUs. Returns what was copied and the
/// first error.
fn run_jobs(
    main: &Path,
    jobs: &[(PathBuf, Vec<PathBuf>)],
) -> (Vec<PathBuf>, Option<anyhow::Error>) {
    let next = AtomicUsize::new(0);
    let copied = Mutex::new(Vec::new());
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((dest, units)) = jobs.get(i) else {
                        break;
                    };
                    let failed = error.lock().map(|e| e.is_some()).unwrap_or(true);
                    if failed || txn::interrupted() {
                        break;
                    }
                    match cp(main, units, dest) {
                        Ok(()) => {
                            if let Ok(mut list) = copied.lock() {
                                list.extend(units.iter().cloned());
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                    }
                }
            });
        }
    });
    let copied = copied.into_inner().unwrap_or_default();
    let mut error = error.into_inner().unwrap_or(None);
    if error.is_none() && txn::interrupted() {
        error = Some(crate::error::Interrupted.into());
    }
    (copied, error)
}

/// One `cp` process: sources (relative to `main`) into the directory `dest`.
fn cp(main: &Path, units: &[PathBuf], dest: &Path) -> Result<()> {
    let mut cmd = Command::new("cp");
    if cfg!(target_os = "linux") {
        cmd.args(["-a", "--reflink=auto"]);
    } else {
        // POSIX: recursive, symlinks not followed, modes and times kept.
        cmd.args(["-pPR"]);
    }
    cmd.arg("--").args(units).arg(dest).current_dir(main);
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .context("could not run cp")?;
    if !out.status.success() {
        txn::child_status(&out.status)?;
        let names: Vec<String> = units.iter().map(|u| u.display().to_string()).collect();
        bail!(
            "[setup] copy: could not copy {} into the slot: {}",
            names.join(", "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn remove_path(path: &Path) -> Result<()> {
    let result = match path.symlink_metadata() {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.with_context(|| format!("could not remove {}", path.display()))
}

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
fn git_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The tracked files of the main worktree, and every directory that holds one.
struct Tracked {
    files: HashSet<String>,
    dirs: HashSet<String>,
}

impl Tracked {
    fn read(main: &Path) -> Result<Tracked> {
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
fn untracked_in(main: &Path, dir: &str) -> Result<Vec<PathBuf>> {
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
