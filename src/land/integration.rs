//! Is a branch's work already in its base? Three checks, cheapest first, against the base and
//! (when it has one) the base's upstream:
//!
//! 1. **ancestor**: the branch's tip is reachable from the base (a merge or a fast-forward);
//! 2. **content**: merging the branch into the base would change nothing (a squash merge, or a
//!    rebase or cherry-pick whose result no later commit touched). Decided path by path,
//!    in-process: every file the branch changed since the merge base must have the branch's
//!    version in the base; a file both sides changed must come out of a plain three-way text
//!    merge (in-process, like `git merge-file`) as the base's version. Merge drivers and other `.gitattributes`
//!    are not consulted: a `merge=ours` or `union` driver would make unlanded work look landed.
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

use anyhow::{Context, Result};
use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};

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
        let content = content(repo, tip, target.id)?;
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

/// One side's version of a path: its mode and object, or `None` when absent.
type Version = Option<(gix::object::tree::EntryMode, ObjectId)>;

/// The files that keep merging from being a no-op.
#[derive(Debug, Default)]
struct Content {
    /// Changed by the branch, never by the target: merging would bring the change.
    untouched: Vec<String>,
    /// Changed by both; the branch's change merges cleanly and still changes the target's.
    adds: Vec<String>,
    /// Changed by both; the text merge conflicts (or they are not both text).
    conflicting: Vec<String>,
}

impl Content {
    fn is_same(&self) -> bool {
        self.untouched.is_empty() && self.adds.is_empty() && self.conflicting.is_empty()
    }

    /// Whether patch ids could still find the branch's commits in the target (module notes).
    fn patches_may_be_there(&self) -> bool {
        self.untouched.is_empty() && self.adds.is_empty()
    }

    fn differing(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .untouched
            .iter()
            .chain(&self.adds)
            .chain(&self.conflicting)
            .cloned()
            .collect();
        files.sort();
        files
    }
}

/// How a three-way text merge of the branch's version into the target's comes out.
enum Merged {
    /// As the target's version: the branch's change is in it.
    Theirs,
    /// Cleanly, with more than the target's version.
    Adds,
    Conflict,
}

/// Whether merging `tip` into `target` would leave the target's tree as it is (see the module
/// notes for how).
fn content(repo: &gix::Repository, tip: ObjectId, target: ObjectId) -> Result<Content> {
    let Some(base) = repo
        .merge_base(tip, target)
        .ok()
        .flatten()
        .map(|id| id.detach())
    else {
        // Unrelated histories: nothing of the branch is in the target.
        let mut out = Content::default();
        out.untouched.push("(no common history)".into());
        return Ok(out);
    };
    let target_tree = repo.find_commit(target)?.tree()?;
    let mut out = Content::default();
    let mut both = Vec::new();
    for change in tree_changes(repo, base, tip)? {
        use gix::diff::tree::recorder::Change;
        let (path, old, new): (BString, Version, Version) = match change {
            Change::Addition {
                entry_mode,
                oid,
                path,
                ..
            } => (path, None, Some((entry_mode, oid))),
            Change::Deletion {
                entry_mode,
                oid,
                path,
                ..
            } => (path, Some((entry_mode, oid)), None),
            Change::Modification {
                previous_entry_mode,
                previous_oid,
                entry_mode,
                oid,
                path,
            } => (
                path,
                Some((previous_entry_mode, previous_oid)),
                Some((entry_mode, oid)),
            ),
        };
        // Trees: their files are reported one by one.
        if old.is_none_or(|(m, _)| m.is_tree()) && new.is_none_or(|(m, _)| m.is_tree()) {
            continue;
        }
        let old = old.filter(|(m, _)| !m.is_tree());
        let new = new.filter(|(m, _)| !m.is_tree());
        let theirs = lookup(&target_tree, path.as_ref())?;
        if theirs == new {
            continue;
        }
        let name = path.to_str_lossy().into_owned();
        if theirs == old {
            out.untouched.push(name);
        } else {
            both.push((name, old, theirs, new));
        }
    }
    if !out.untouched.is_empty() {
        // Decided already; the text merges would not change the answer.
        out.conflicting = both.into_iter().map(|(name, ..)| name).collect();
        return Ok(out);
    }
    for (name, old, theirs, ours) in both {
        match text_merge(repo, old, theirs, ours)? {
            Merged::Theirs => {}
            Merged::Adds => out.adds.push(name),
            Merged::Conflict => out.conflicting.push(name),
        }
    }
    Ok(out)
}

/// What changed between two commits' trees, file by file (no rename detection).
fn tree_changes(
    repo: &gix::Repository,
    from: ObjectId,
    to: ObjectId,
) -> Result<Vec<gix::diff::tree::recorder::Change>> {
    let from_tree = repo.find_commit(from)?.tree()?;
    let to_tree = repo.find_commit(to)?.tree()?;
    let mut recorder = gix::diff::tree::Recorder::default();
    gix::diff::tree(
        gix::objs::TreeRefIter::from_bytes(&from_tree.data, from_tree.id.kind()),
        gix::objs::TreeRefIter::from_bytes(&to_tree.data, to_tree.id.kind()),
        gix::diff::tree::State::default(),
        &repo.objects,
        &mut recorder,
    )
    .context("could not compare two trees")?;
    Ok(recorder.records)
}

/// The files (not directories) a branch changed since its merge base with `target`, sorted.
pub fn changed_files(
    repo: &gix::Repository,
    tip: ObjectId,
    target: ObjectId,
) -> Result<Vec<String>> {
    let Some(base) = repo
        .merge_base(tip, target)
        .ok()
        .flatten()
        .map(|id| id.detach())
    else {
        return Ok(Vec::new());
    };
    use gix::diff::tree::recorder::Change;
    let mut files: Vec<String> = tree_changes(repo, base, tip)?
        .into_iter()
        .filter_map(|change| {
            let (path, tree) = match change {
                Change::Addition {
                    entry_mode, path, ..
                }
                | Change::Deletion {
                    entry_mode, path, ..
                } => (path, entry_mode.is_tree()),
                Change::Modification {
                    entry_mode,
                    previous_entry_mode,
                    path,
                    ..
                } => (path, entry_mode.is_tree() && previous_entry_mode.is_tree()),
            };
            (!tree).then(|| path.to_str_lossy().into_owned())
        })
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The files that differ between two commits, each with whether it is new (absent from
/// `from`), sorted.
pub fn files_between(
    repo: &gix::Repository,
    from: ObjectId,
    to: ObjectId,
) -> Result<Vec<(String, bool)>> {
    use gix::diff::tree::recorder::Change;
    let mut files: Vec<(String, bool)> = tree_changes(repo, from, to)?
        .into_iter()
        .filter_map(|change| {
            let (path, is_tree, new) = match change {
                Change::Addition {
                    entry_mode, path, ..
                } => (path, entry_mode.is_tree(), true),
                Change::Deletion {
                    entry_mode, path, ..
                } => (path, entry_mode.is_tree(), false),
                Change::Modification {
                    entry_mode,
                    previous_entry_mode,
                    path,
                    ..
                } => (
                    path,
                    entry_mode.is_tree() && previous_entry_mode.is_tree(),
                    previous_entry_mode.is_tree() && !entry_mode.is_tree(),
                ),
            };
            (!is_tree).then(|| (path.to_str_lossy().into_owned(), new))
        })
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// The version of `path` in `tree`, `None` when absent (or a directory).
fn lookup(tree: &gix::Tree<'_>, path: &gix::bstr::BStr) -> Result<Version> {
    let entry = tree.lookup_entry(path.split(|b| *b == b'/'))?;
    Ok(entry
        .map(|e| (e.mode(), e.object_id()))
        .filter(|(m, _)| !m.is_tree()))
}

/// A plain three-way text merge of the branch's version into the target's, in-process, with
/// no merge driver. Anything but two regular files with a common ancestor is a conflict.
fn text_merge(
    repo: &gix::Repository,
    old: Version,
    theirs: Version,
    ours: Version,
) -> Result<Merged> {
    let (Some((old_mode, old)), Some((theirs_mode, theirs)), Some((ours_mode, ours))) =
        (old, theirs, ours)
    else {
        return Ok(Merged::Conflict);
    };
    let blob = |m: gix::object::tree::EntryMode| m.is_blob() && !m.is_link();
    if !(blob(old_mode) && blob(theirs_mode) && blob(ours_mode)) || theirs_mode != ours_mode {
        return Ok(Merged::Conflict);
    }
    let (old, theirs, ours) = (
        repo.find_blob(old)?.detach().data,
        repo.find_blob(theirs)?.detach().data,
        repo.find_blob(ours)?.detach().data,
    );
    if [&old, &theirs, &ours].iter().any(|d| d.contains(&0)) {
        return Ok(Merged::Conflict); // binary
    }
    let mut input = gix::diff::blob::InternedInput::new(&[][..], &[]);
    let mut out = Vec::new();
    let resolution = gix::merge::blob::builtin_driver::text(
        &mut out,
        &mut input,
        Default::default(),
        &theirs,
        &old,
        &ours,
        Default::default(),
    );
    Ok(match resolution {
        gix::merge::blob::Resolution::Complete if out == theirs => Merged::Theirs,
        gix::merge::blob::Resolution::Complete => Merged::Adds,
        _ => Merged::Conflict,
    })
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
