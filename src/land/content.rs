//! Comparing trees file by file, in-process: what a branch changed since its merge base, and
//! whether merging it into a target would change the target (the content check of
//! `integration.rs`). Three-way text merges here use gix's text merge with no driver: a
//! repository's `.gitattributes` never decide them.

use anyhow::{Context, Result};
use gix::ObjectId;
use gix::bstr::{BString, ByteSlice};

/// One side's version of a path: its mode and object, or `None` when absent.
type Version = Option<(gix::object::tree::EntryMode, ObjectId)>;

/// The files that keep merging from being a no-op.
#[derive(Debug, Default)]
pub struct Content {
    /// Changed by the branch, never by the target: merging would bring the change.
    pub untouched: Vec<String>,
    /// Changed by both; the branch's change merges cleanly and still changes the target's.
    pub adds: Vec<String>,
    /// Changed by both; the text merge conflicts (or they are not both text).
    pub conflicting: Vec<String>,
}

impl Content {
    pub fn is_same(&self) -> bool {
        self.untouched.is_empty() && self.adds.is_empty() && self.conflicting.is_empty()
    }

    /// Whether patch ids could still find the branch's commits in the target (module notes).
    pub fn patches_may_be_there(&self) -> bool {
        self.untouched.is_empty() && self.adds.is_empty()
    }

    pub fn differing(&self) -> Vec<String> {
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

/// The files that keep merging `tip` into `target` from leaving the target's tree as it is
/// (none: it would; see `integration.rs` for how this is decided).
pub fn compare(repo: &gix::Repository, tip: ObjectId, target: ObjectId) -> Result<Content> {
    let Some(base) = merge_base(repo, tip, target) else {
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
    let Some(base) = merge_base(repo, tip, target) else {
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

/// The best common ancestor of `a` and `b`; `None` for unrelated histories (or one gix cannot
/// find).
fn merge_base(repo: &gix::Repository, a: ObjectId, b: ObjectId) -> Option<ObjectId> {
    repo.merge_base(a, b).ok().flatten().map(|id| id.detach())
}
