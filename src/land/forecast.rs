//! Conflict forecasts, in memory: `git merge-tree --write-tree` merges two commits without a
//! worktree or index, and with `--stdin` one process answers every pair (a slot against its
//! base, or every two slots). The objects such a merge writes (merged files with conflict
//! markers, trees) go to a scratch object directory that is deleted afterwards, so a board
//! that forecasts at every refresh leaves nothing in the repository.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The result of one in-memory merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub clean: bool,
    /// The merged tree (with conflict markers where it is not clean).
    pub tree: String,
    /// The conflicted paths, sorted.
    pub files: Vec<String>,
}

/// A scratch object directory, with the repository's own objects as an alternate: git reads
/// everything it has and writes only here. Removed when dropped.
pub struct Scratch {
    dir: PathBuf,
    objects: PathBuf,
    alternates: PathBuf,
}

impl Scratch {
    pub fn new(common_dir: &Path) -> Result<Scratch> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = scratch_root().join(format!("git-agent-forecast-{}-{stamp}", std::process::id()));
        // Private (the merged files are the repository's contents), and new: in a shared
        // directory, one made beforehand by someone else must not be used.
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        let objects = dir.join("objects");
        std::fs::create_dir_all(&objects)
            .with_context(|| format!("could not create {}", objects.display()))?;
        Ok(Scratch {
            dir,
            objects,
            alternates: common_dir.join("objects"),
        })
    }

    /// Makes a git command read the repository's objects and write into the scratch directory.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("GIT_OBJECT_DIRECTORY", &self.objects)
            .env("GIT_ALTERNATE_OBJECT_DIRECTORIES", &self.alternates);
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// Where scratch objects go: memory when there is a RAM file system for it (Linux's
/// `/dev/shm`, else the runtime directory, usually one too). On a disk, the few dozen files a
/// forecast writes and deletes cost more than the merges (ext4 without a journal makes files
/// created near recently deleted ones slow: 50 ms on `ls` for 15 slots, against 4 ms).
fn scratch_root() -> PathBuf {
    let ram = [
        Some(PathBuf::from("/dev/shm")),
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
    ];
    ram.into_iter()
        .flatten()
        .find(|d| d.is_absolute() && d.is_dir() && writable(d))
        .unwrap_or_else(std::env::temp_dir)
}

fn writable(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // Not a precise access check; a failure to create the scratch directory is reported.
    std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o222 != 0)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Merges every pair (`ours`, `theirs`: commit ids) in memory, in one `git merge-tree` run
/// in `dir`. Honours the repository's merge drivers, as a real merge would.
pub fn merges(dir: &Path, scratch: &Scratch, pairs: &[(String, String)]) -> Result<Vec<Merge>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = crate::git::git_in(dir);
    cmd.args([
        "merge-tree",
        "--stdin",
        "-z",
        "--name-only",
        "--no-messages",
        "--allow-unrelated-histories",
    ]);
    scratch.apply(&mut cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("could not run git merge-tree")?;
    let input: String = pairs.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    let mut stdin = child.stdin.take().context("no stdin for git merge-tree")?;
    // Written from a thread: git may fill its stdout before it has read all of stdin.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .context("could not run git merge-tree")?;
    let _ = writer.join();
    if !out.status.success() {
        bail!(
            "`git merge-tree --stdin` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let merged = parse(&String::from_utf8_lossy(&out.stdout))?;
    if merged.len() != pairs.len() {
        bail!(
            "`git merge-tree --stdin` answered {} of {} merges",
            merged.len(),
            pairs.len()
        );
    }
    Ok(merged)
}

/// Parses `--stdin -z --name-only --no-messages` output: per merge, `STATUS\0TREE\0`, the
/// conflicted paths each followed by NUL, then an empty field.
fn parse(text: &str) -> Result<Vec<Merge>> {
    let mut fields = text.split('\0');
    let mut out = Vec::new();
    while let Some(status) = fields.next() {
        if status.is_empty() {
            break;
        }
        let clean = match status {
            "1" => true,
            "0" => false,
            other => bail!("unexpected merge status '{other}' from git merge-tree"),
        };
        let tree = fields.next().context("git merge-tree printed no tree")?;
        let mut files = Vec::new();
        for field in fields.by_ref() {
            if field.is_empty() {
                break;
            }
            files.push(field.to_string());
        }
        files.sort();
        files.dedup();
        out.push(Merge {
            clean,
            tree: tree.to_string(),
            files,
        });
    }
    Ok(out)
}

/// A commit of a worktree as it is now, with its uncommitted and untracked (not ignored)
/// changes, made in the scratch directory without touching the worktree or its index. The
/// worktree's HEAD when nothing is uncommitted.
pub fn worktree_commit(worktree: &Path, index: &Path, scratch: &Scratch) -> Result<String> {
    let head = {
        let mut cmd = crate::git::git_in(worktree);
        cmd.args(["rev-parse", "--verify", "HEAD^{commit}"]);
        crate::git::run(cmd)?.trim().to_string()
    };
    if crate::git::changes(worktree)?.is_clean() {
        return Ok(head);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let scratch_index = scratch.path().join(format!("index-{stamp}"));
    if index.exists() {
        std::fs::copy(index, &scratch_index)
            .with_context(|| format!("could not copy {}", index.display()))?;
    }
    let git = |args: &[&str]| -> Result<String> {
        let mut cmd = crate::git::git_in(worktree);
        cmd.args(args).env("GIT_INDEX_FILE", &scratch_index);
        scratch.apply(&mut cmd);
        crate::git::run(cmd)
    };
    git(&["add", "-A", "--", "."])?;
    let tree = git(&["write-tree"])?;
    let mut cmd = crate::git::git_in(worktree);
    cmd.args([
        "commit-tree",
        tree.trim(),
        "-p",
        &head,
        "-m",
        "uncommitted changes",
    ])
    .env("GIT_AUTHOR_NAME", "git-agent")
    .env("GIT_AUTHOR_EMAIL", "git-agent@localhost")
    .env("GIT_COMMITTER_NAME", "git-agent")
    .env("GIT_COMMITTER_EMAIL", "git-agent@localhost");
    scratch.apply(&mut cmd);
    Ok(crate::git::run(cmd)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clean_and_conflicted_merges() {
        let text = "0\0t1\0b\0a\0\x001\0t2\0\x000\0t3\0f\0\0";
        let merges = parse(text).unwrap();
        assert_eq!(merges.len(), 3);
        assert!(!merges[0].clean);
        assert_eq!(merges[0].files, ["a", "b"]);
        assert!(merges[1].clean && merges[1].files.is_empty());
        assert_eq!(merges[1].tree, "t2");
        assert_eq!(merges[2].files, ["f"]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("7\0t\0\0").is_err());
    }
}
