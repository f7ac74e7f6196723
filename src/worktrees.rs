//! Every worktree of a repository, slot or not. Slots are what git-agent made or adopted; the
//! others were made by `git worktree add`, an editor or another agent tool (Claude Code's
//! `claude --worktree NAME`, ...). They are listed so that the board shows everything that
//! has a checkout of the repository, each non-slot with the command that makes it a slot.

use std::path::{Path, PathBuf};

use crate::fsutil::same_path;
use crate::git::{Repo, Worktree};
use crate::slot::Slot;

/// A tool known to make worktrees in a place of its own, recognised by that place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `claude --worktree NAME`: `<repo>/.claude/worktrees/NAME` on branch `worktree-NAME`.
    ClaudeCode,
    /// `~/.claude-squad/worktrees/<branch>`.
    ClaudeSquad,
    /// `~/.local/share/uzi/worktrees/...`.
    Uzi,
    /// `.../vibe-kanban/worktrees/...`.
    VibeKanban,
}

impl Tool {
    /// The identifier in JSON (`made_by`).
    pub fn id(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "claude-code",
            Tool::ClaudeSquad => "claude-squad",
            Tool::Uzi => "uzi",
            Tool::VibeKanban => "vibe-kanban",
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "Claude Code",
            Tool::ClaudeSquad => "claude-squad",
            Tool::Uzi => "uzi",
            Tool::VibeKanban => "Vibe Kanban",
        }
    }

    /// The tool whose place `path` is in, from the directories the tools document.
    pub fn recognise(path: &Path) -> Option<Tool> {
        let parts: Vec<&str> = path
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect();
        let has = |a: &str, b: &str| parts.windows(2).any(|w| w[0] == a && w[1] == b);
        if has(".claude", "worktrees") {
            Some(Tool::ClaudeCode)
        } else if has(".claude-squad", "worktrees") {
            Some(Tool::ClaudeSquad)
        } else if has("uzi", "worktrees") {
            Some(Tool::Uzi)
        } else if has("vibe-kanban", "worktrees") {
            Some(Tool::VibeKanban)
        } else {
            None
        }
    }
}

/// A linked worktree that is not a slot.
#[derive(Debug, Clone)]
pub struct Other {
    pub path: PathBuf,
    /// Its branch, `None` on a detached HEAD.
    pub branch: Option<String>,
    pub locked: bool,
    /// Its directory is gone (`git worktree prune` would forget it).
    pub prunable: bool,
    pub made_by: Option<Tool>,
}

impl Other {
    /// The name `adopt` gives it: a tool's own name for it where the tool names its
    /// worktrees (Claude Code's NAME rather than its branch `worktree-NAME`), else its branch.
    pub fn slot_name(&self) -> String {
        let dir = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match (self.made_by, &self.branch) {
            (Some(Tool::ClaudeCode), _) | (_, None) => crate::names::slot_name(&dir),
            (_, Some(branch)) => crate::names::slot_name(branch),
        }
    }

    /// Who made it, for messages: "Claude Code" or "`git worktree add` or another tool".
    pub fn made_by_text(&self) -> &'static str {
        match self.made_by {
            Some(tool) => tool.label(),
            None => "`git worktree add` or another tool",
        }
    }

    /// The command that makes it a slot.
    pub fn adopt_command(&self) -> String {
        format!(
            "git agent adopt {}",
            crate::quote::posix(&self.path.to_string_lossy())
        )
    }

    /// One sentence for `env`, `doctor` and the like when the user stands in it.
    pub fn hint(&self) -> String {
        format!(
            "{} is a worktree made by {}, not a slot; `{}` makes it one (ports, database, env)",
            self.path.display(),
            self.made_by_text(),
            self.adopt_command()
        )
    }
}

/// The repository's linked worktrees that are not slots, in git's order.
pub fn others(repo: &Repo, slots: &[Slot]) -> Vec<Other> {
    let Ok(all) = repo.worktrees() else {
        return Vec::new();
    };
    classify(repo, all, slots)
}

/// As [`others`], from a list of the repository's worktrees already read.
pub fn classify(repo: &Repo, all: Vec<Worktree>, slots: &[Slot]) -> Vec<Other> {
    // A slot whose record cannot be read (reported where it is read) is still a slot: the
    // machine-wide registry knows its directory.
    let leased: Vec<PathBuf> = crate::registry::load()
        .map(|r| {
            r.slots
                .into_iter()
                .filter(|e| e.repo == repo.common_dir)
                .map(|e| e.root)
                .collect()
        })
        .unwrap_or_default();
    // Paths compared as written first (git and the records write the same ones); resolved,
    // each once, only for a worktree that matched no slot so: comparing every worktree with
    // every slot through `same_path` resolved both sides each time, 100 slots took 25 ms.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let written: std::collections::HashSet<&Path> = slots
        .iter()
        .map(|s| s.path.as_path())
        .chain(leased.iter().map(PathBuf::as_path))
        .collect();
    let resolved = std::cell::OnceCell::new();
    let known = |w: &Path| {
        written.contains(w)
            || resolved
                .get_or_init(|| {
                    written
                        .iter()
                        .map(|p| canonical(p))
                        .collect::<std::collections::HashSet<PathBuf>>()
                })
                .contains(&canonical(w))
    };
    all.into_iter()
        .filter(|w| !w.main && !known(&w.path) && !same_path(&w.path, &repo.main_worktree))
        .map(|w| Other {
            made_by: Tool::recognise(&w.path),
            path: w.path,
            branch: w.branch,
            locked: w.locked,
            prunable: w.prunable,
        })
        .collect()
}

/// The non-slot worktree holding `dir`, if `dir` is in one.
pub fn containing(repo: &Repo, slots: &[Slot], dir: &Path) -> Option<Other> {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    others(repo, slots)
        .into_iter()
        .filter(|o| {
            let root = std::fs::canonicalize(&o.path).unwrap_or_else(|_| o.path.clone());
            real.starts_with(&root) || dir.starts_with(&o.path)
        })
        .max_by_key(|o| o.path.as_os_str().len())
}

/// The JSON element `ls --json` prints for a worktree that is not a slot.
pub fn json(other: &Other) -> serde_json::Value {
    serde_json::json!({
        "version": crate::output::JSON_VERSION,
        "kind": "worktree",
        "name": other.slot_name(),
        "branch": other.branch,
        "path": other.path,
        "made_by": other.made_by.map(Tool::id),
        "locked": other.locked,
        "missing": other.prunable,
        "adopt": other.adopt_command(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_recognised_by_their_places() {
        let t = |p: &str| Tool::recognise(Path::new(p));
        assert_eq!(
            t("/src/app/.claude/worktrees/fix-bug"),
            Some(Tool::ClaudeCode)
        );
        assert_eq!(
            t("/home/u/.claude-squad/worktrees/feat_1"),
            Some(Tool::ClaudeSquad)
        );
        assert_eq!(
            t("/home/u/.local/share/uzi/worktrees/a-app-1"),
            Some(Tool::Uzi)
        );
        assert_eq!(
            t("/var/tmp/vibe-kanban/worktrees/x"),
            Some(Tool::VibeKanban)
        );
        assert_eq!(t("/src/app-worktrees/feature"), None);
        assert_eq!(t("/src/claude/worktrees/x"), None);
    }

    #[test]
    fn claude_code_worktrees_are_named_by_their_own_name() {
        let other = |path: &str, branch: Option<&str>| Other {
            path: PathBuf::from(path),
            branch: branch.map(String::from),
            locked: false,
            prunable: false,
            made_by: Tool::recognise(Path::new(path)),
        };
        assert_eq!(
            other("/app/.claude/worktrees/fix-bug", Some("worktree-fix-bug")).slot_name(),
            "fix-bug"
        );
        assert_eq!(
            other("/app-wt/x", Some("feature/auth")).slot_name(),
            "feature-auth"
        );
        assert_eq!(other("/app-wt/loose", None).slot_name(), "loose");
    }
}
