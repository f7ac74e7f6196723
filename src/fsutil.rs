//! Small file-system helpers: atomic writes with user-only permissions.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Writes `bytes` to `path` through a temporary file and a rename, so readers see the old
/// or the new content, never half of it. The file is created `0600` (it may hold secrets).
///
/// No fsync: this is for git-agent's own records, which are no more durable than the git
/// metadata they describe (git does not fsync refs or worktree files by default, see
/// `core.fsync`), and an fsync right after a checkout waits for the journal to take the whole
/// checkout, up to 70 ms of an `add` (BENCHMARKS.md). The user's own files go through
/// [`write_atomic_mode`], which syncs.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, 0o600, false)
}

/// Like [`write_atomic`] with the given mode, and on disk before the rename: for files that
/// hold the user's own lines (an env file, `info/exclude`).
pub fn write_atomic_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_file(path, bytes, mode, true)
}

/// Like [`write_atomic`], readable by all (0644): for files git-agent generates and can write
/// again at any time (man pages), so not worth an fsync.
pub fn write_generated(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, 0o644, false)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> Result<()> {
    let dir = path
        .parent()
        .context("a file path has no parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("could not write {}", path.display()))
}

/// Creates a directory (and parents) readable only by the user.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("could not create {}", dir.display()))
}

/// Opens (creating it `0600`) and locks a lock file, waiting for the lock.
pub fn lock(path: &Path) -> Result<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("could not lock {}", path.display()))?;
    Ok(file)
}

/// Checks a path that a template gives relative to the slot (the env file, the SQLite
/// database): a repository must not make git-agent write, or later delete, anything outside
/// the slot, nor inside its `.git`.
pub fn check_inside_slot(path: &str) -> Result<()> {
    let p = Path::new(path);
    if path.is_empty() {
        bail!("the path is empty");
    }
    if p.is_absolute() {
        bail!("'{path}' is absolute; give a path relative to the slot, like .env.local");
    }
    for part in p.components() {
        match part {
            Component::Normal(name) if name == ".git" => {
                bail!("'{path}' points into .git; give a file of the slot's own")
            }
            Component::Normal(_) | Component::CurDir => {}
            _ => bail!("'{path}' leaves the slot ('..'); give a path inside it"),
        }
    }
    if !p.components().any(|c| matches!(c, Component::Normal(_))) {
        bail!("'{path}' names the slot itself, not a file in it");
    }
    Ok(())
}

/// Whether two paths name the same place: equal as written, or after resolving symlinks.
pub fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// A text file's content, or `None` when it does not exist (other errors name the file).
pub fn read_if_exists(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Resolves `.` and `..` lexically (for a directory that does not exist yet).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
