//! Is a branch's work already in its base? Three checks, cheapest first, against the base and
//! (when it has one) the base's upstream:
//!
//! 1. **ancestor**: the branch's tip is reachable from the base (a merge or a fast-forward);
//! 2. **content**: merging the branch into the base would change nothing (a squash merge, or a
//!    rebase or cherry-pick whose result no later commit touched). Decided path by path,
//!    in-process (`content.rs`): every file the branch changed since the merge base must have
//!    the branch's version in the base; a file both sides changed must come out of a plain
//!    three-way text merge as the base's version. Merge drivers and other `.gitattributes` are
//!    not consulted: a `merge=ours` or `union` driver would make unlanded work look landed.
//!    Renames are not followed, which can only make a landed branch look unlanded, never the
//!    other way round;
//! 3. **patches**: every commit's patch is already in the base, as `git cherry` sees it (a
//!    rebase or cherry-pick that later commits edited). Asked only when each file that still
//!    differs was changed by the base too and its text merge conflicts: when the base never
//!    touched a file the branch changed, or the branch's change merges cleanly onto the base's
//!    version and still changes it, the base's version lacks that change, so no commit of the
//!    base can hold it unless it was taken out again since, and a change the base took out is
//!    not in the base.
//!
//! A branch is integrated when any check holds for any of the targets. Partially merged work
//! never is: one file or one commit missing is enough to say no.

use std::path::Path;

use anyhow::Result;
use gix::ObjectId;

/// How the branch's work was found in a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Ancestor,
    Content,
    Patches,
}

impl How {
    /// The name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Ancestor => "ancestor",
            How::Content => "content",
            How::Patches => "patches",
        }
    }

    /// Completes "integrated into main: ...".
    pub fn describe(self) -> &'static str {
        match self {
            How::Ancestor => "every commit of the branch is on it",
            How::Content => "merging the branch would change nothing",
            How::Patches => "every commit's patch is on it (git cherry)",
        }
    }
}

/// What a branch is checked against: a name as the user knows it and the commit it points at.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub id: ObjectId,
}

/// The outcome of a check.
#[derive(Debug, Clone)]
pub enum Verdict {
    Integrated { into: String, how: How },
    NotIntegrated(Missing),
}

impl Verdict {
    pub fn is_integrated(&self) -> bool {
        matches!(self, Verdict::Integrated { .. })
    }
}

/// What keeps a branch from being integrated, against the first target.
#[derive(Debug, Clone, Default)]
pub struct Missing {
    /// The targets checked, in order (`main`, `origin/main`).
    pub targets: Vec<String>,
    /// Commits on the branch that are in none of the targets' history.
    pub commits: usize,
    /// Files whose branch version the first target lacks (merging would change them).
    pub files: Vec<String>,
    /// Whether patch ids were compared too (see the module's notes).
    pub patches_checked: bool,
}

impl Missing {
    /// What was compared, for messages: "ancestry, merge result, patch ids".
    pub fn checked(&self) -> &'static str {
        if self.patches_checked {
            "ancestry, merge result, patch ids"
        } else {
            "ancestry, merge result"
        }
    }
}

/// Why removing `branch` would lose work, for `rm`'s refusal: its commits that are neither
/// integrated into the targets nor on its own upstream (pushed), how that was checked and
/// which files merging would change. `None` when every such commit is on the upstream.
pub fn refusal(
    repo: &crate::git::Repo,
    branch: &str,
    missing: &Missing,
    upstream: Option<&str>,
) -> Result<Option<String>> {
    let Some(tip) = resolve(&repo.gix, &format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let mut hidden: Vec<ObjectId> = missing
        .targets
        .iter()
        .filter_map(|t| resolve(&repo.gix, t))
        .collect();
    hidden.extend(upstream.and_then(|u| resolve(&repo.gix, u)));
    let mut unsaved = Vec::new();
    for info in repo.gix.rev_walk([tip]).with_hidden(hidden).all()? {
        unsaved.push(info?.id);
    }
    if unsaved.is_empty() {
        return Ok(None);
    }
    // Commits whose patch the base has (a partial cherry-pick) are not what is missing.
    let picked: Vec<String> = match missing.targets.first() {
        Some(target) => {
            let mut cmd = repo.git();
            cmd.args(["cherry", target, &format!("refs/heads/{branch}")]);
            crate::git::run(cmd)
                .map(|text| {
                    text.lines()
                        .filter_map(|l| l.strip_prefix("- "))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    let (in_base, not_in_base): (Vec<ObjectId>, Vec<ObjectId>) = unsaved
        .iter()
        .partition(|id| picked.iter().any(|p| *p == id.to_string()));
    let mut text = format!(
        "branch {branch} has {} commit(s) not merged into {}{} (checked: {})",
        unsaved.len(),
        missing.targets.join(" nor into "),
        match upstream {
            Some(up) => format!(" nor on its upstream {up}"),
            None => " and it has no upstream".to_string(),
        },
        missing.checked()
    );
    if !missing.files.is_empty() {
        text.push_str(&format!(
            "; merging it would change {}",
            sample(&missing.files, 5)
        ));
    }
    text.push(':');
    for id in not_in_base.iter().take(SAMPLE) {
        text.push_str(&format!("\n        {}", describe_commit(&repo.gix, *id)));
    }
    if not_in_base.len() > SAMPLE {
        text.push_str(&format!(
            "\n        ... and {} more",
            not_in_base.len() - SAMPLE
        ));
    }
    if !in_base.is_empty() {
        text.push_str(&format!(
            "\n        ({} more whose patch {} has already)",
            in_base.len(),
            missing.targets[0]
        ));
    }
    Ok(Some(text))
}

/// How many commits a refusal lists.
const SAMPLE: usize = 5;

/// The targets for a base: the base itself and, when it is a local branch with an upstream
/// that exists here, that upstream. Empty when the base does not resolve.
pub fn targets(repo: &gix::Repository, base: &str) -> Vec<Target> {
    let mut out = Vec::new();
    if let Some(id) = resolve(repo, base) {
        out.push(Target {
            name: base.to_string(),
            id,
        });
    }
    let short = base.strip_prefix("refs/heads/").unwrap_or(base);
    if let Some(upstream) = crate::git::upstream_of(repo, short)
        && upstream != base
        && let Some(id) = resolve(repo, &upstream)
    {
        out.push(Target { name: upstream, id });
    }
    out
}

/// The verdict for a local branch against `base` (and its upstream); `None` when the branch
/// does not exist. What `rm`, `prune` and `doctor` ask.
pub fn of_branch(repo: &crate::git::Repo, branch: &str, base: &str) -> Result<Option<Verdict>> {
    let Some(tip) = resolve(&repo.gix, &format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let targets = targets(&repo.gix, base);
    check(&repo.gix, &repo.main_worktree, tip, &targets).map(Some)
}

/// Whether an integrated branch ever had work of its own that landed, rather than being a
/// slot's fresh branch with no commits yet (which is trivially "integrated"): found by
/// content or patches, or reachable from the base after commits were made on it (its reflog
/// has more than the entry that created it).
pub fn landed_work(repo: &crate::git::Repo, branch: &str, how: How) -> bool {
    match how {
        How::Content | How::Patches => true,
        How::Ancestor => {
            let log = repo.common_dir.join("logs/refs/heads").join(branch);
            std::fs::read_to_string(log).is_ok_and(|text| text.lines().count() > 1)
        }
    }
}

fn resolve(repo: &gix::Repository, rev: &str) -> Option<ObjectId> {
    let id = repo.rev_parse_single(rev).ok()?;
    id.object().ok()?.peel_to_commit().ok().map(|c| c.id)
}

/// Checks `tip` against `targets`. `dir` is a worktree of the repository, where the few git
/// processes the content and patch checks may need are run.
pub fn check(
    repo: &gix::Repository,
    dir: &Path,
    tip: ObjectId,
    targets: &[Target],
) -> Result<Verdict> {
    let mut missing = Missing {
        targets: targets.iter().map(|t| t.name.clone()).collect(),
        ..Default::default()
    };
    if targets.is_empty() {
        return Ok(Verdict::NotIntegrated(missing));
    }
    let mut walk = repo
        .rev_walk([tip])
        .with_hidden(targets.iter().map(|t| t.id))
        .all()?;
    for info in walk.by_ref() {
        info?;
        missing.commits += 1;
    }
    if missing.commits == 0 {
        // Reachable from the union of the targets means reachable from one of them.
        let into = targets
            .iter()
            .find(|t| {
                t.id == tip
                    || repo
                        .rev_walk([tip])
                        .with_hidden([t.id])
                        .all()
                        .map(|w| w.count() == 0)
                        .unwrap_or(false)
            })
            .map_or_else(|| targets[0].name.clone(), |t| t.name.clone());
        return Ok(Verdict::Integrated {
            into,
            how: How::Ancestor,
        });
    }
    let mut patch_candidates = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let content = super::content::compare(repo, tip, target.id)?;
        if content.is_same() {
            return Ok(Verdict::Integrated {
                into: target.name.clone(),
                how: How::Content,
            });
        }
        if i == 0 {
            missing.files = content.differing();
        }
        if content.patches_may_be_there() {
            patch_candidates.push(target);
        }
    }
    for target in patch_candidates {
        missing.patches_checked = true;
        if all_patches_in(dir, target.id, tip)? {
            return Ok(Verdict::Integrated {
                into: target.name.clone(),
                how: How::Patches,
            });
        }
    }
    Ok(Verdict::NotIntegrated(missing))
}

/// `abc1234 subject`.
fn describe_commit(repo: &gix::Repository, id: ObjectId) -> String {
    let short = id.to_hex_with_len(7).to_string();
    let subject = repo
        .find_commit(id)
        .ok()
        .and_then(|c| c.message().ok().map(|m| m.summary().to_string()))
        .unwrap_or_default();
    format!("{short} {subject}")
}

/// Whether `git cherry TARGET TIP` marks every commit as already in the target.
fn all_patches_in(dir: &Path, target: ObjectId, tip: ObjectId) -> Result<bool> {
    let mut cmd = crate::git::git_in(dir);
    cmd.arg("cherry")
        .arg(target.to_string())
        .arg(tip.to_string());
    let text = crate::git::run(cmd)?;
    Ok(text.lines().all(|l| l.starts_with('-')))
}

fn sample(list: &[String], n: usize) -> String {
    let shown: Vec<&str> = list.iter().take(n).map(String::as_str).collect();
    match list.len().saturating_sub(n) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
