//! Git: reads through gix (discovery, refs, worktree list, status, ahead/behind), changes
//! through the `git` binary (worktree add/remove, branches), which runs the user's hooks,
//! honours their config and cleans up its own half-made worktree on a signal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, anyhow, bail};

/// A repository as seen from where git-agent was started.
pub struct Repo {
    pub gix: gix::Repository,
    /// The git common dir (canonical), shared by all worktrees.
    pub common_dir: PathBuf,
    /// The main worktree (for a bare repository: the directory holding it).
    pub main_worktree: PathBuf,
    /// The repository's short name, from the main worktree's directory.
    pub name: String,
}

impl Repo {
    /// Finds the repository containing `dir`, honouring `GIT_DIR` as git does for subcommands.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let gix = gix::discover_with_environment_overrides(dir).map_err(|e| {
            anyhow!("{} is not inside a git repository ({e}); run git-agent from a repository or one of its slots", dir.display())
        })?;
        let common_dir = std::fs::canonicalize(gix.common_dir())
            .with_context(|| format!("could not resolve {}", gix.common_dir().display()))?;
        let main_worktree = match gix
            .main_repo()
            .ok()
            .and_then(|m| m.workdir().map(Path::to_path_buf))
        {
            Some(dir) => std::fs::canonicalize(&dir).unwrap_or(dir),
            None => common_dir.parent().unwrap_or(&common_dir).to_path_buf(),
        };
        let name = main_worktree
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".git").to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "repo".into());
        Ok(Repo {
            gix,
            common_dir,
            main_worktree,
            name,
        })
    }

    /// A `git` command run in the main worktree, with the variables git passed to us removed so
    /// that it acts on the repository we name, not on an inherited one.
    pub fn git(&self) -> Command {
        git_in(&self.main_worktree)
    }

    pub fn local_branch_exists(&self, branch: &str) -> bool {
        self.gix
            .try_find_reference(format!("refs/heads/{branch}").as_str())
            .ok()
            .flatten()
            .is_some()
    }

    /// The remote-tracking ref for `name`: `origin/x` itself, or the one `refs/remotes/*/x`
    /// when exactly one remote has a branch `x`.
    pub fn remote_branch(&self, name: &str) -> Option<String> {
        if self
            .gix
            .try_find_reference(format!("refs/remotes/{name}").as_str())
            .ok()
            .flatten()
            .is_some()
        {
            return Some(name.to_string());
        }
        let remotes: Vec<String> = self
            .gix
            .remote_names()
            .iter()
            .map(|r| r.to_string())
            .collect();
        let found: Vec<String> = remotes
            .into_iter()
            .map(|r| format!("{r}/{name}"))
            .filter(|full| {
                self.gix
                    .try_find_reference(format!("refs/remotes/{full}").as_str())
                    .ok()
                    .flatten()
                    .is_some()
            })
            .collect();
        (found.len() == 1).then(|| found[0].clone())
    }

    /// Every worktree with the branch it has checked out.
    pub fn worktrees(&self) -> Result<Vec<Worktree>> {
        let mut list = Vec::new();
        if let Ok(main) = self.gix.main_repo()
            && let Some(dir) = main.workdir()
        {
            let head = std::fs::read_to_string(self.common_dir.join("HEAD")).unwrap_or_default();
            list.push(Worktree {
                path: dir.to_path_buf(),
                branch: head_branch(&head),
                main: true,
                locked: false,
                prunable: false,
            });
        }
        for proxy in self.gix.worktrees()? {
            let head = std::fs::read_to_string(proxy.git_dir().join("HEAD")).unwrap_or_default();
            list.push(Worktree {
                path: proxy.base().unwrap_or_default(),
                branch: head_branch(&head),
                main: false,
                locked: proxy.is_locked(),
                prunable: proxy.is_prunable(),
            });
        }
        Ok(list)
    }

    /// Resolves a revision (`main`, `origin/x`, `HEAD~2`) to a commit id.
    pub fn resolve(&self, rev: &str) -> Option<gix::ObjectId> {
        self.gix.rev_parse_single(rev).ok().map(|id| id.detach())
    }

    /// The short name of the branch the main worktree has checked out, if any.
    pub fn current_branch(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.common_dir.join("HEAD")).ok()?;
        head_branch(&head)
    }

    /// The upstream of a local branch (`origin/x`) from `branch.<name>.remote/merge`.
    pub fn upstream(&self, branch: &str) -> Option<String> {
        upstream_of(&self.gix, branch)
    }

    /// Commits on `tip` reachable from none of `hidden` (ahead count), via a rev walk.
    pub fn count_unique(&self, tip: gix::ObjectId, hidden: &[gix::ObjectId]) -> Result<usize> {
        Ok(self
            .gix
            .rev_walk([tip])
            .with_hidden(hidden.iter().copied())
            .all()?
            .count())
    }
}

/// The upstream of a local branch (`origin/x`, or a local branch for remote `.`) from
/// `branch.<name>.remote` and `branch.<name>.merge`.
pub fn upstream_of(repo: &gix::Repository, branch: &str) -> Option<String> {
    let config = repo.config_snapshot();
    let remote = config
        .string(format!("branch.{branch}.remote").as_str())?
        .to_string();
    let merge = config.string(format!("branch.{branch}.merge").as_str())?;
    let merge = merge.to_string();
    let short = merge.strip_prefix("refs/heads/")?;
    if remote == "." {
        return Some(short.to_string());
    }
    Some(format!("{remote}/{short}"))
}

#[derive(Debug, Clone)]
pub struct Worktree {
    pub path: PathBuf,
    /// The short branch name, `None` for a detached HEAD.
    pub branch: Option<String>,
    /// The repository's main worktree (the first `git worktree list` shows).
    pub main: bool,
    pub locked: bool,
    pub prunable: bool,
}

fn head_branch(head: &str) -> Option<String> {
    head.trim()
        .strip_prefix("ref: refs/heads/")
        .map(str::to_string)
}

/// A `git` command in `dir`, clean of inherited repository variables.
pub fn git_in(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_PREFIX")
        .env("LC_ALL", "C");
    cmd
}

/// Runs a git command, capturing output; a failure carries git's own message.
pub fn run(mut cmd: Command) -> Result<String> {
    let output = output(&mut cmd)?;
    if !output.status.success() {
        bail!("{}", failure_text(&cmd, &output));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!("git is not installed or not on PATH (Debian: apt install git; macOS: brew install git)")
        } else {
            anyhow!("could not run git: {e}")
        }
    })
}

pub fn failure_text(cmd: &Command, output: &Output) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = stderr
        .trim()
        .trim_start_matches("fatal: ")
        .trim_start_matches("error: ");
    format!(
        "`git {}` failed: {}",
        args.join(" "),
        if message.is_empty() {
            "no message"
        } else {
            message
        }
    )
}

/// What `git status` says about a worktree, for `rm`'s safety check.
#[derive(Debug, Default)]
pub struct Changes {
    pub staged: Vec<String>,
    pub modified: Vec<String>,
    pub untracked: Vec<String>,
    pub ignored: Vec<String>,
}

impl Changes {
    pub fn is_clean(&self) -> bool {
        self.staged.is_empty() && self.modified.is_empty() && self.untracked.is_empty()
    }
}

/// Lists changes in a worktree with the git binary (the reference for what `git worktree
/// remove` will refuse), including ignored files that removing it would destroy.
pub fn changes(dir: &Path) -> Result<Changes> {
    let mut cmd = git_in(dir);
    cmd.args([
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=matching",
    ]);
    let text = run(cmd)?;
    let mut changes = Changes::default();
    let mut records = text.split('\0');
    while let Some(record) = records.next() {
        if record.len() < 4 {
            continue;
        }
        let (code, path) = record.split_at(3);
        let path = path.to_string();
        let bytes = code.as_bytes();
        match (bytes[0], bytes[1]) {
            (b'?', b'?') => changes.untracked.push(path),
            (b'!', b'!') => changes.ignored.push(path),
            (index, worktree) => {
                if index != b' ' {
                    changes.staged.push(path.clone());
                }
                if worktree != b' ' {
                    changes.modified.push(path);
                }
                if index == b'R' || index == b'C' {
                    records.next(); // the rename's source path
                }
            }
        }
    }
    Ok(changes)
}

/// Serialises the git commands that change a repository's worktrees and config, which take
/// git's own lock files and fail rather than wait when another process holds them.
pub fn repo_lock(common: &Path) -> Result<std::fs::File> {
    let dir = common.join("agent");
    crate::fsutil::create_private_dir(&dir)?;
    crate::fsutil::lock(&dir.join("lock"))
}
