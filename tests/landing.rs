//! Integration detection, as `ls`, `rm`, `prune` and `doctor` see it, over every way a branch
//! gets into its base: squash, rebase, cherry-pick, a merge on the remote by another clone,
//! and the ways it only seems to: a partial merge, an amend after the merge, a revert on the
//! base, a merge driver that keeps the base's side. Each case checks the verdict `ls --json`
//! gives and what `rm` does with it, without `--force`.

mod harden;
mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::Env;

struct Case {
    env: Env,
    repo: PathBuf,
    slot: PathBuf,
}

/// A repository with `notes.txt` (ten lines) and one slot `work`.
fn case() -> Case {
    let env = Env::new();
    let repo = env.repo("app");
    env.commit(&repo, "notes.txt", &lines(&[]));
    let slot = PathBuf::from(env.ok(&repo, &["add", "work"]).trim());
    Case { env, repo, slot }
}

/// Ten numbered lines, with some replaced: `(line, text)`.
fn lines(changes: &[(usize, &str)]) -> String {
    (1..=10)
        .map(|i| {
            let text = changes
                .iter()
                .find(|(n, _)| *n == i)
                .map(|(_, t)| t.to_string())
                .unwrap_or_else(|| format!("line {i}"));
            format!("{text}\n")
        })
        .collect()
}

impl Case {
    fn git(&self, dir: &Path, args: &[&str]) -> String {
        self.env.git(dir, args)
    }

    /// Commits `file` with `content` in `dir` with the subject `subject`.
    fn commit(&self, dir: &Path, file: &str, content: &str, subject: &str) {
        std::fs::write(dir.join(file), content).unwrap();
        self.git(dir, &["add", "--", file]);
        self.git(dir, &["commit", "-q", "-m", subject]);
    }

    /// The slot's `landing` object from `ls --json`.
    fn landing(&self) -> Value {
        let all = self.env.json(&self.repo, &["ls", "--json"]);
        all.as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "work")
            .unwrap_or_else(|| panic!("no slot work in {all:#}"))["landing"]
            .clone()
    }

    fn assert_integrated(&self, how: &str, into: &str) {
        self.assert_integrated_shown_as(how, into, "integrated");
    }

    /// As [`assert_integrated`], with the board's LAND cell saying `shown`.
    fn assert_integrated_shown_as(&self, how: &str, into: &str, shown: &str) {
        let landing = self.landing();
        assert_eq!(landing["integrated"], true, "{landing:#}");
        assert_eq!(landing["how"], how, "{landing:#}");
        assert_eq!(landing["integrated_into"], into, "{landing:#}");
        let board = self.env.ok(&self.repo, &["ls"]);
        let row = board
            .lines()
            .find(|l| l.trim_start().starts_with("work "))
            .unwrap();
        assert!(row.contains(shown), "{board}");
        // rm deletes it without --force, and says why that loses nothing.
        let err = self.env.fails(&self.repo, &["rm", "work"], 0);
        assert!(
            err.contains(&format!("deleted branch work (integrated into {into}")),
            "{err}"
        );
        assert!(!self.slot.exists());
        assert!(!harden::branches(&self.env, &self.repo).contains("work"));
    }

    /// `rm` refuses, names the commits in `listed` and not those in `not_listed`, and the
    /// way it checked; the branch and slot stay.
    fn assert_refused(&self, listed: &[&str], not_listed: &[&str]) -> String {
        let landing = self.landing();
        assert_eq!(landing["integrated"], false, "{landing:#}");
        assert_eq!(landing["how"], Value::Null);
        let err = self.env.fails(&self.repo, &["rm", "work"], 3);
        assert!(
            err.contains("not merged into main")
                && err.contains("(checked: ancestry, merge result"),
            "{err}"
        );
        for subject in listed {
            assert!(err.contains(subject), "'{subject}' not listed:\n{err}");
        }
        for subject in not_listed {
            assert!(!err.contains(subject), "'{subject}' listed:\n{err}");
        }
        assert!(self.slot.is_dir());
        assert!(harden::branches(&self.env, &self.repo).contains("work"));
        err
    }

    /// The slot's commits, oldest first.
    fn slot_commits(&self) -> Vec<String> {
        let text = self.git(&self.repo, &["rev-list", "--reverse", "main..work"]);
        text.lines().map(str::to_string).collect()
    }
}

#[test]
fn squash_merged_is_integrated() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.commit(&c.slot, "notes.txt", &lines(&[(2, "two")]), "edit notes");
    // main moved on meanwhile, in another file.
    c.commit(&c.repo, "other.txt", "o\n", "other work");
    c.git(&c.repo, &["merge", "--squash", "-q", "work"]);
    c.git(&c.repo, &["commit", "-q", "-m", "squashed work"]);
    c.assert_integrated("content", "main");
}

#[test]
fn squash_merged_then_edited_on_main_is_integrated() {
    // main changed the same file after the squash, elsewhere in it: the text merge of the
    // branch's version into main's comes out as main's.
    let c = case();
    c.commit(&c.slot, "notes.txt", &lines(&[(2, "two")]), "edit notes");
    c.git(&c.repo, &["merge", "--squash", "-q", "work"]);
    c.git(&c.repo, &["commit", "-q", "-m", "squashed work"]);
    c.commit(
        &c.repo,
        "notes.txt",
        &lines(&[(2, "two"), (9, "nine")]),
        "more on main",
    );
    c.assert_integrated("content", "main");
}

#[test]
fn rebase_merged_is_integrated() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.commit(&c.slot, "notes.txt", &lines(&[(5, "five")]), "edit notes");
    c.commit(&c.repo, "other.txt", "o\n", "other work");
    // "Rebase and merge": a copy of the branch rebased onto main, then fast-forwarded.
    c.git(&c.repo, &["branch", "copy", "work"]);
    c.git(&c.repo, &["rebase", "-q", "main", "copy"]);
    c.git(&c.repo, &["checkout", "-q", "main"]);
    c.git(&c.repo, &["merge", "-q", "--ff-only", "copy"]);
    c.git(&c.repo, &["branch", "-q", "-D", "copy"]);
    c.assert_integrated("content", "main");
}

#[test]
fn rebase_merged_then_rewritten_on_main_is_integrated_by_patch_ids() {
    // After the rebase-merge main rewrote the very line the branch changed: merging the
    // branch now would conflict, yet every commit's patch is on main.
    let c = case();
    c.commit(&c.slot, "notes.txt", &lines(&[(5, "five")]), "edit notes");
    c.commit(&c.repo, "other.txt", "o\n", "other work");
    c.git(&c.repo, &["branch", "copy", "work"]);
    c.git(&c.repo, &["rebase", "-q", "main", "copy"]);
    c.git(&c.repo, &["checkout", "-q", "main"]);
    c.git(&c.repo, &["merge", "-q", "--ff-only", "copy"]);
    c.git(&c.repo, &["branch", "-q", "-D", "copy"]);
    c.commit(
        &c.repo,
        "notes.txt",
        &lines(&[(5, "FIVE")]),
        "rewrite line 5",
    );
    c.assert_integrated("patches", "main");
}

#[test]
fn cherry_picked_is_integrated() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.commit(&c.slot, "b.txt", "b\n", "add b");
    c.commit(&c.repo, "other.txt", "o\n", "other work");
    for commit in c.slot_commits() {
        c.git(&c.repo, &["cherry-pick", &commit]);
    }
    c.assert_integrated("content", "main");
}

#[test]
fn merged_on_a_bare_remote_by_another_clone_and_fetched_is_integrated() {
    let env = Env::new();
    let origin = env.root().join("origin.git");
    env.git(
        &env.root(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            origin.to_str().unwrap(),
        ],
    );
    let seed = env.repo("seed");
    env.git(
        &seed,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    env.git(&seed, &["push", "-q", "origin", "main"]);
    env.git(
        &env.root(),
        &["clone", "-q", origin.to_str().unwrap(), "app"],
    );
    let repo = env.root().join("app");
    let slot = PathBuf::from(env.ok(&repo, &["add", "work"]).trim());
    let c = Case { env, repo, slot };
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.commit(&c.slot, "b.txt", "b\n", "add b");
    c.git(&c.slot, &["push", "-q", "-u", "origin", "work"]);
    // Another clone squash-merges it on the remote's main.
    c.git(
        &c.env.root(),
        &["clone", "-q", origin.to_str().unwrap(), "reviewer"],
    );
    let reviewer = c.env.root().join("reviewer");
    c.git(&reviewer, &["merge", "--squash", "-q", "origin/work"]);
    c.git(&reviewer, &["commit", "-q", "-m", "land work (#1)"]);
    c.git(&reviewer, &["push", "-q", "origin", "main"]);
    c.git(&reviewer, &["push", "-q", "origin", "--delete", "work"]);
    // Here: fetched, not pulled; local main does not have it, its upstream does.
    c.git(&c.repo, &["fetch", "-q", "--prune", "origin"]);
    assert!(
        !c.git(&c.repo, &["log", "--format=%s", "main"])
            .contains("land work"),
        "local main must not have it yet"
    );
    c.assert_integrated("content", "origin/main");
}

#[test]
fn partially_merged_is_refused_and_names_the_missing_commit() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.commit(&c.slot, "b.txt", "b\n", "add b (not picked)");
    let first = c.slot_commits()[0].clone();
    // main moved first, so the picked commit is a new one (not the branch's own).
    c.commit(&c.repo, "other.txt", "o\n", "other work");
    c.git(&c.repo, &["cherry-pick", &first]);
    let err = c.assert_refused(&["add b (not picked)"], &["add a"]);
    assert!(err.contains("merging it would change b.txt"), "{err}");
    assert!(err.contains("1 more whose patch main has already"), "{err}");
}

#[test]
fn squash_merged_then_more_work_is_refused() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.git(&c.repo, &["merge", "--squash", "-q", "work"]);
    c.git(&c.repo, &["commit", "-q", "-m", "squashed work"]);
    c.commit(&c.slot, "c.txt", "c\n", "after the squash");
    let err = c.assert_refused(&["after the squash"], &[]);
    assert!(err.contains("merging it would change c.txt"), "{err}");
}

#[test]
fn amended_after_a_merge_is_refused() {
    let c = case();
    c.commit(&c.slot, "notes.txt", &lines(&[(3, "three")]), "edit line 3");
    c.git(&c.repo, &["merge", "-q", "--ff-only", "work"]);
    // The agent amends its commit after it landed: the amended content is on no branch.
    std::fs::write(c.slot.join("notes.txt"), lines(&[(3, "three, amended")])).unwrap();
    c.git(
        &c.slot,
        &[
            "commit",
            "-q",
            "-a",
            "--amend",
            "-m",
            "edit line 3 (amended)",
        ],
    );
    let err = c.assert_refused(&["edit line 3 (amended)"], &[]);
    assert!(
        err.contains("patch ids"),
        "both sides changed the file, so patches were compared: {err}"
    );
}

#[test]
fn amended_message_only_after_a_merge_is_integrated() {
    // Same content under another message: nothing would be lost.
    let c = case();
    c.commit(&c.slot, "notes.txt", &lines(&[(3, "three")]), "edit line 3");
    c.git(&c.repo, &["merge", "-q", "--ff-only", "work"]);
    c.git(
        &c.slot,
        &["commit", "-q", "--amend", "-m", "edit line 3, better said"],
    );
    c.assert_integrated("content", "main");
}

#[test]
fn merged_then_reverted_on_main_is_integrated() {
    // Its commits are in main's history: deleting the branch loses nothing (`git revert` of
    // the revert brings the work back), and `git merge work` would change nothing.
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.git(
        &c.repo,
        &["merge", "-q", "--no-ff", "-m", "merge work", "work"],
    );
    c.git(&c.repo, &["revert", "--no-edit", "-m", "1", "HEAD"]);
    assert!(!c.repo.join("a.txt").exists());
    c.assert_integrated("ancestor", "main");
}

#[test]
fn squashed_then_reverted_on_main_is_refused() {
    // main has neither the commits nor the changes: merging would bring them back.
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.commit(&c.slot, "b.txt", "b\n", "add b");
    c.git(&c.repo, &["merge", "--squash", "-q", "work"]);
    c.git(&c.repo, &["commit", "-q", "-m", "squashed work"]);
    c.git(&c.repo, &["revert", "--no-edit", "HEAD"]);
    c.assert_refused(&["add a", "add b"], &[]);
}

#[test]
fn cherry_picked_then_reverted_on_main_is_refused() {
    // A patch that main took and reverted is not in main; patch ids alone would say it is.
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    let commit = c.slot_commits()[0].clone();
    c.commit(&c.repo, "other.txt", "o\n", "other work");
    c.git(&c.repo, &["cherry-pick", &commit]);
    c.git(&c.repo, &["revert", "--no-edit", "HEAD"]);
    let cherry = c.git(&c.repo, &["cherry", "main", "work"]);
    assert!(
        cherry.starts_with('-'),
        "git cherry sees the patch as in main: {cherry}"
    );
    c.assert_refused(&[], &[]);
}

#[test]
fn a_merge_driver_that_keeps_the_base_side_is_ignored() {
    // With `merge=ours` a real merge would keep main's file and look like a no-op.
    let c = case();
    c.commit(
        &c.repo,
        ".gitattributes",
        "notes.txt merge=ours\n",
        "attributes",
    );
    c.git(&c.repo, &["config", "merge.ours.driver", "true"]);
    c.git(&c.slot, &["merge", "-q", "main"]);
    c.commit(
        &c.slot,
        "notes.txt",
        &lines(&[(4, "branch's four")]),
        "branch edits line 4",
    );
    c.commit(
        &c.repo,
        "notes.txt",
        &lines(&[(4, "main's four")]),
        "main edits line 4",
    );
    let merged = c.git(&c.repo, &["merge-tree", "--write-tree", "main", "work"]);
    let main_tree = c.git(&c.repo, &["rev-parse", "main^{tree}"]);
    assert_eq!(
        merged.lines().next(),
        main_tree.lines().next(),
        "with the driver, git's own merge is a no-op"
    );
    c.assert_refused(&["branch edits line 4"], &[]);
}

#[test]
fn a_fresh_slot_is_integrated_and_its_branch_goes() {
    let c = case();
    c.commit(&c.repo, "other.txt", "o\n", "main moves on");
    // Nothing committed in it yet: integrated (rm deletes the branch), and the board says
    // new, since "integrated" would say nothing.
    c.assert_integrated_shown_as("ancestor", "main", "new");
}

#[test]
fn doctor_says_a_landed_slot_can_go() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.git(&c.repo, &["merge", "--squash", "-q", "work"]);
    c.git(&c.repo, &["commit", "-q", "-m", "squashed work"]);
    c.env.ok(&c.repo, &["add", "fresh"]);
    let report = c.env.json(&c.repo, &["doctor", "--json"]);
    let findings = report["findings"].as_array().unwrap();
    let about =
        |slot: &str| -> Vec<&Value> { findings.iter().filter(|f| f["slot"] == slot).collect() };
    let work = about("work");
    assert_eq!(work.len(), 1, "{findings:#?}");
    assert_eq!(work[0]["level"], "info");
    assert!(
        work[0]["message"]
            .as_str()
            .unwrap()
            .contains("integrated into main")
    );
    assert_eq!(work[0]["fix"], "git agent rm work");
    assert!(
        about("fresh").is_empty(),
        "a fresh slot is not reported: {findings:#?}"
    );
}

#[test]
fn prune_after_an_interrupted_rm_deletes_a_squash_merged_branch() {
    let c = case();
    c.commit(&c.slot, "a.txt", "a\n", "add a");
    c.git(&c.repo, &["merge", "--squash", "-q", "work"]);
    c.git(&c.repo, &["commit", "-q", "-m", "squashed work"]);
    let done =
        harden::Paused::start(&c.env, &c.repo, &["rm", "work"], "branch", &[]).signal("KILL");
    assert_eq!(done.status.code(), None);
    assert!(harden::branches(&c.env, &c.repo).contains("work"));
    let err = c.env.fails(&c.repo, &["prune"], 0);
    assert!(err.contains("its `git agent rm` was interrupted"), "{err}");
    assert!(!harden::branches(&c.env, &c.repo).contains("work"));
}

/// Three slots with a known answer: a and b conflict in f.txt, b and c in g.txt, a and c not
/// at all. Landing a and c first leaves one slot (b) to resolve, the fewest possible.
#[test]
fn pairwise_conflicts_between_three_slots_and_the_order_that_keeps_them_fewest() {
    let env = Env::new();
    let repo = env.repo("app");
    env.commit(&repo, "f.txt", "f\n");
    env.commit(&repo, "g.txt", "g\n");
    let mut dirs = Vec::new();
    for name in ["a", "b", "c"] {
        dirs.push(PathBuf::from(env.ok(&repo, &["add", name]).trim()));
    }
    let c = Case {
        env,
        repo,
        slot: dirs[0].clone(),
    };
    c.commit(&dirs[0], "f.txt", "f by a\n", "a edits f");
    c.commit(&dirs[1], "f.txt", "f by b\n", "b edits f");
    c.commit(&dirs[1], "g.txt", "g by b\n", "b edits g");
    c.commit(&dirs[2], "g.txt", "g by c\n", "c edits g");
    c.commit(&dirs[2], "h.txt", "h\n", "c adds h");
    let before = harden::user_state(&c.env, &[&c.repo, &dirs[0], &dirs[1], &dirs[2]]);
    let report = c.env.json(&c.repo, &["ls", "--conflicts", "--json"]);
    let pairs: Vec<(String, String, Vec<String>)> = report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let files = p["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            (
                p["a"].as_str().unwrap().into(),
                p["b"].as_str().unwrap().into(),
                files,
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("a".to_string(), "b".to_string(), vec!["f.txt".to_string()]),
            ("b".to_string(), "c".to_string(), vec!["g.txt".to_string()]),
        ],
        "{report:#}"
    );
    let order = &report["orders"][0];
    let names: Vec<&str> = order["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c", "b"], "{report:#}");
    assert_eq!(order["expected_conflicts"], 1);
    assert_eq!(
        order["slots"][2]["conflicts_with"],
        serde_json::json!(["a", "c"])
    );
    for slot in report["slots"].as_array().unwrap() {
        assert_eq!(slot["conflicts_with_base"], false, "{report:#}");
    }
    let text = c.env.ok(&c.repo, &["ls", "--conflicts"]);
    for line in [
        "  a  b  f.txt",
        "  b  c  g.txt",
        "order to land into main (1 slot(s) expected to conflict at their turn):",
        "  1. a  lands cleanly",
        "  2. c  lands cleanly",
        "  3. b  conflicts with a, c: resolve in the slot after they landed",
        "  then: git agent merge a; git agent merge c; git agent merge b",
    ] {
        assert!(text.contains(line), "'{line}' missing:\n{text}");
    }
    // Forecasting changed nothing anywhere, and wrote no object into the repository.
    let objects = c.git(&c.repo, &["count-objects", "-v"]);
    let d = harden::diff(
        &before,
        &harden::user_state(&c.env, &[&c.repo, &dirs[0], &dirs[1], &dirs[2]]),
    );
    assert!(d.is_empty(), "{d}");
    c.env.ok(&c.repo, &["ls", "--conflicts"]);
    assert_eq!(objects, c.git(&c.repo, &["count-objects", "-v"]));
}

#[test]
fn uncommitted_changes_count_only_when_asked() {
    let env = Env::new();
    let repo = env.repo("app");
    env.commit(&repo, "f.txt", "f\n");
    let a = PathBuf::from(env.ok(&repo, &["add", "a"]).trim());
    let b = PathBuf::from(env.ok(&repo, &["add", "b"]).trim());
    let c = Case {
        env,
        repo,
        slot: a.clone(),
    };
    c.commit(&a, "f.txt", "f by a\n", "a edits f");
    // b's work is not committed: an edit, and a new file a also adds.
    std::fs::write(b.join("f.txt"), "f by b, not committed\n").unwrap();
    c.commit(&a, "new.txt", "a's\n", "a adds new");
    std::fs::write(b.join("new.txt"), "b's, untracked\n").unwrap();
    let before = harden::user_state(&c.env, &[&c.repo, &a, &b]);
    let committed = c.env.json(&c.repo, &["ls", "--conflicts", "--json"]);
    assert!(
        committed["pairs"].as_array().unwrap().is_empty(),
        "{committed:#}"
    );
    assert_eq!(
        committed["integrated"],
        serde_json::json!(["b"]),
        "b has no commits: {committed:#}"
    );
    let all = c
        .env
        .json(&c.repo, &["ls", "--conflicts", "--uncommitted", "--json"]);
    assert_eq!(
        all["pairs"][0]["files"],
        serde_json::json!(["f.txt", "new.txt"]),
        "{all:#}"
    );
    let d = harden::diff(&before, &harden::user_state(&c.env, &[&c.repo, &a, &b]));
    assert!(
        d.is_empty(),
        "the slots' worktrees and indexes are untouched:\n{d}"
    );
}

#[test]
fn a_new_slot_stays_new_with_uncommitted_changes_and_is_integrated_once_fast_forwarded() {
    let c = case();
    let row = |c: &Case| {
        let board = c.env.ok(&c.repo, &["ls"]);
        board
            .lines()
            .find(|l| l.trim_start().starts_with("work "))
            .unwrap_or_else(|| panic!("{board}"))
            .to_string()
    };
    std::fs::write(c.slot.join("draft.txt"), "wip\n").unwrap();
    assert!(row(&c).contains("new"), "{}", row(&c));
    std::fs::remove_file(c.slot.join("draft.txt")).unwrap();
    c.commit(&c.slot, "notes.txt", &lines(&[(1, "one")]), "work: one");
    c.git(&c.repo, &["merge", "-q", "--ff-only", "work"]);
    c.assert_integrated("ancestor", "main");
}
