//! Git: reads through gix (discovery, refs, worktree list, status, ahead/behind), changes
//! through the `git` binary (worktree add/remove, branches), which runs the user's hooks,
//! honours their config and cleans up its own half-made worktree on a signal. Running the
//! binary is in `command`, a worktree's uncommitted changes in `changes`, and how a
//! repository's places (main worktree, superproject, name, HEAD) are found in `layout`.

mod changes;
mod command;
mod layout;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};

pub use changes::{Changes, changes};
pub use command::{failure_text, git_in, output, run, start_error};
use layout::{head_branch, head_in, main_worktree_of, repo_name, same_dir, superproject_of};

/// A repository as seen from where git-agent was started.
#[derive(Clone)]
pub struct Repo {
    pub gix: gix::Repository,
    /// The git common dir (canonical), shared by all worktrees.
    pub common_dir: PathBuf,
    /// The main worktree. For a bare repository, the worktree that has its default branch
    /// checked out (the `main` of a `.bare` + worktrees layout), else the bare directory.
    pub main_worktree: PathBuf,
    /// A bare repository (`git clone --bare`, perhaps with linked worktrees beside it).
    pub bare: bool,
    /// For a submodule: the top of the outermost superproject's worktree.
    pub superproject: Option<PathBuf>,
    /// The repository's short name, from the main worktree's directory (a bare one's own).
    pub name: String,
}

/// Where `HEAD` of a worktree points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    Branch(String),
    /// A detached HEAD: the commit, and the branch it was checked out from when the reflog
    /// says so and that branch still holds the commit.
    Detached {
        commit: gix::ObjectId,
        from: Option<String>,
    },
    /// A branch without commits yet (a new, empty repository).
    Unborn(String),
}

impl Repo {
    /// Finds the repository containing `dir`, honouring `GIT_DIR` as git does for subcommands.
    pub fn discover(dir: &Path) -> Result<Repo> {
        if !dir.is_dir() {
            bail!(
                "{} does not exist (deleted?); cd to a repository or one of its slots",
                dir.display()
            );
        }
        let gix = gix::discover_with_environment_overrides(dir).map_err(|_| {
            anyhow!(
                "{} is not inside a git repository; run `git agent` in a repository or one of its slots",
                dir.display()
            )
        })?;
        let common_dir = std::fs::canonicalize(gix.common_dir())
            .with_context(|| format!("could not resolve {}", gix.common_dir().display()))?;
        let (main, bare) = main_worktree_of(&gix, &common_dir);
        let superproject = main.as_deref().and_then(superproject_of);
        let mut repo = Repo {
            gix,
            main_worktree: main.clone().unwrap_or_else(|| common_dir.clone()),
            common_dir,
            bare,
            superproject,
            name: String::new(),
        };
        if bare {
            // The worktree of the default branch stands in for the main one: the template
            // and the files setup copies come from there.
            let default = repo.current_branch();
            if let Some(wt) = repo
                .worktrees()?
                .into_iter()
                .find(|w| !w.main && w.path.is_dir() && w.branch.is_some() && w.branch == default)
            {
                repo.main_worktree = std::fs::canonicalize(&wt.path).unwrap_or(wt.path);
            }
        }
        repo.name = repo_name(&repo.common_dir, main.as_deref());
        Ok(repo)
    }

    /// Whether the main worktree is a checkout (a bare repository may have none).
    pub fn has_main_worktree(&self) -> bool {
        !same_dir(&self.main_worktree, &self.common_dir)
    }

    /// Where relative slot paths start, and the default `[worktree] path`: beside the main
    /// worktree; for a bare repository, beside the bare directory (in a `.bare` + worktrees
    /// layout, next to the other worktrees); for a submodule, outside the superproject, whose
    /// `git status` would otherwise list the slots forever.
    pub fn slot_place(&self) -> (PathBuf, String) {
        let escape = |text: &str| text.replace('{', "{{").replace('}', "}}");
        if self.bare {
            let hidden = self
                .common_dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            let template = if hidden {
                "../{slot}"
            } else {
                crate::config::DEFAULT_PATH
            };
            return (self.common_dir.clone(), template.to_string());
        }
        if let Some(top) = &self.superproject
            && let (Some(parent), Some(name)) = (top.parent(), top.file_name())
        {
            let template = format!(
                "{}/{}-{{repo}}-worktrees/{{slot}}",
                escape(&parent.to_string_lossy()),
                escape(&name.to_string_lossy())
            );
            return (self.main_worktree.clone(), template);
        }
        (
            self.main_worktree.clone(),
            crate::config::DEFAULT_PATH.to_string(),
        )
    }

    /// Where a slot named `slot` goes when the template does not say (`[worktree] path`).
    pub fn default_slot_path(&self, slot: &str) -> Option<PathBuf> {
        let (anchor, template) = self.slot_place();
        let mut vars = crate::template::Vars::default();
        vars.set("repo", self.name.clone());
        vars.set("slot", slot);
        vars.set("branch", slot);
        let text = vars.render(&template, "worktree.path").ok()?;
        Some(crate::fsutil::normalize(&anchor.join(text)))
    }

    /// Where `HEAD` of the worktree the command runs in points (in a bare directory, the
    /// repository's own HEAD).
    pub fn head_here(&self) -> Head {
        head_in(self.gix.git_dir(), self)
    }

    /// Where the main worktree's `HEAD` points (for a bare repository, its own HEAD).
    pub fn head_of_main(&self) -> Head {
        head_in(&self.common_dir, self)
    }

    /// A `git` command run in the main worktree (in a bare repository, its directory), with the
    /// variables git passed to us removed so that it acts on the repository we name, not on an
    /// inherited one. Never in a slot, which the command may be about to remove.
    pub fn git(&self) -> Command {
        git_in(self.git_dir())
    }

    /// The directory `git()` runs in.
    pub fn git_dir(&self) -> &Path {
        if self.bare && !self.has_main_worktree() {
            &self.common_dir
        } else {
            &self.main_worktree
        }
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

    /// The text of `path` in the commit HEAD points to, if it is there and is UTF-8.
    pub fn file_at_head(&self, path: &str) -> Option<String> {
        let id = self
            .gix
            .rev_parse_single(format!("HEAD:{path}").as_str())
            .ok()?;
        let object = id.object().ok()?;
        String::from_utf8(object.data.clone()).ok()
    }

    /// Whether the repository has no branches with commits at all (a new, empty one).
    pub fn is_empty(&self) -> bool {
        let Ok(refs) = self.gix.references() else {
            return false;
        };
        refs.local_branches()
            .map_or(true, |mut b| b.next().is_none())
    }

    /// `remote/branch` for text that starts with a configured remote's name and a slash.
    pub fn names_remote(&self, text: &str) -> Option<(String, String)> {
        let (remote, branch) = text.split_once('/')?;
        let known = self.gix.remote_names().iter().any(|r| *r == remote);
        (known && !branch.is_empty()).then(|| (remote.to_string(), branch.to_string()))
    }

    /// Every worktree with the branch it has checked out: the main one first (none for a bare
    /// repository), then the linked ones.
    pub fn worktrees(&self) -> Result<Vec<Worktree>> {
        let mut list = Vec::new();
        if !self.bare {
            let head = std::fs::read_to_string(self.common_dir.join("HEAD")).unwrap_or_default();
            list.push(Worktree {
                path: self.main_worktree.clone(),
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

/// Serialises the git commands that change a repository's worktrees and config, which take
/// git's own lock files and fail rather than wait when another process holds them.
pub fn repo_lock(common: &Path) -> Result<std::fs::File> {
    let dir = common.join("agent");
    crate::fsutil::create_private_dir(&dir)?;
    crate::fsutil::lock(&dir.join("lock"))
}
