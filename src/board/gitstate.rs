//! The git state of a worktree (changed files, ahead/behind its base) and its last activity,
//! read with gix on one thread per core.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::UNIX_EPOCH;

use anyhow::Result;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct GitState {
    pub missing: bool,
    pub changes: usize,
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
    pub error: Option<String>,
    /// When a changed or untracked file was last written (seconds since the epoch): the
    /// newest edit not yet committed.
    pub newest_change: Option<u64>,
}

/// What to read the state of: a worktree and what its branch is compared with.
#[derive(Debug, Clone)]
pub struct Target {
    pub path: PathBuf,
    /// A revision (`main`, `@{upstream}`); `None`: no ahead/behind.
    pub base: Option<String>,
}

/// The git state of every target, on as many threads as there are cores: a status is CPU and
/// file-system work, and a thread per worktree only made the cores take turns (BENCHMARKS.md).
pub fn statuses(targets: &[&Target]) -> Vec<GitState> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let found: Vec<Mutex<GitState>> = targets.iter().map(|_| Mutex::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..cores.min(targets.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(target) = targets.get(i) else { break };
                    let state = git_state(target);
                    if let Ok(mut cell) = found[i].lock() {
                        *cell = state;
                    }
                }
            });
        }
    });
    found
        .into_iter()
        .map(|cell| cell.into_inner().unwrap_or_default())
        .collect()
}

fn git_state(target: &Target) -> GitState {
    if !target.path.is_dir() {
        return GitState {
            missing: true,
            ..Default::default()
        };
    }
    match read_git_state(&target.path, target.base.as_deref()) {
        Ok(state) => state,
        Err(e) => GitState {
            error: Some(format!("{e:#}")),
            ..Default::default()
        },
    }
}

fn read_git_state(path: &Path, base: Option<&str>) -> Result<GitState> {
    // Nanosecond timestamps in the racy-git check: with whole seconds, every file written in
    // the second its index was (all of a fresh slot) is "racily clean" and gets hashed on
    // every `ls`, as gix, unlike `git status`, does not write the index back.
    let options = gix::open::Options::default().config_overrides(["gitoxide.core.useNsec=true"]);
    let repo = gix::open_opts(path, options)?;
    let mut changes = 0;
    let mut newest_change = None;
    let items = repo
        .status(gix::progress::Discard)?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .into_iter(Vec::<gix::bstr::BString>::new())?;
    for item in items.filter_map(Result::ok) {
        changes += 1;
        // One stat per changed file: the newest edit, for the slot's last activity. A deleted
        // file shows in its directory's time.
        let Ok(relative) = gix::path::from_bstr(item.location()) else {
            continue;
        };
        let file = path.join(relative);
        let time = mtime(&file).or_else(|| file.parent().and_then(mtime));
        newest_change = newest_change.max(time);
    }
    let mut state = GitState {
        changes,
        newest_change,
        ..Default::default()
    };
    if let Some(base) = base
        && let (Ok(head), Ok(base)) = (repo.head_id(), repo.rev_parse_single(base))
    {
        let (head, base) = (head.detach(), base.detach());
        state.ahead = Some(repo.rev_walk([head]).with_hidden([base]).all()?.count());
        state.behind = Some(repo.rev_walk([base]).with_hidden([head]).all()?.count());
    }
    Ok(state)
}

/// A file's modification time in seconds since the epoch.
pub fn mtime(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    modified
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The worktree's own git directory: `.git` itself in the main worktree, the directory its
/// `.git` file names in a linked one.
pub fn git_dir(worktree: &Path) -> Option<PathBuf> {
    let dot_git = worktree.join(".git");
    if dot_git.is_dir() {
        return Some(dot_git);
    }
    let text = std::fs::read_to_string(&dot_git).ok()?;
    let dir = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
    Some(if dir.is_absolute() {
        dir
    } else {
        worktree.join(dir)
    })
}

/// When the worktree's HEAD, index or reflog last changed (a commit, a checkout, a `git
/// add`), and its top directory (a file created or deleted there): cheap, a few `stat`s.
pub fn git_activity(worktree: &Path) -> Option<u64> {
    let mut newest = mtime(worktree);
    if let Some(dir) = git_dir(worktree) {
        for file in ["HEAD", "index", "logs/HEAD"] {
            newest = newest.max(mtime(&dir.join(file)));
        }
    }
    newest
}

/// A cheap fingerprint of what a status depends on besides the files' contents: the times of
/// HEAD, the index, the reflog, the refs and the top directory. When it is unchanged, and no
/// process in the worktree used the CPU, the last status still holds.
pub fn fingerprint(worktree: &Path, common_dir: &Path) -> Vec<Option<std::time::SystemTime>> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut out = vec![time(worktree)];
    if let Some(dir) = git_dir(worktree) {
        for file in ["HEAD", "index", "logs/HEAD"] {
            out.push(time(&dir.join(file)));
        }
    }
    for file in ["packed-refs", "refs/heads", "logs/HEAD"] {
        out.push(time(&common_dir.join(file)));
    }
    out
}
