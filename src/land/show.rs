//! A merge's plan as the user sees it: in words for `--dry-run`, as JSON for `--json` (the
//! fields the plan and the result share).

use serde_json::json;

use super::base::Moved;
use super::integration::How;
use super::landing::Landed;
use super::merge::{Plan, Strategy};

impl Plan {
    /// The plan in words, for `--dry-run`.
    pub fn describe(&self, keep: bool) -> String {
        let slot = &self.slot;
        let mut steps = Vec::new();
        if let Some(how) = self.integrated {
            steps.push(format!(
                "nothing to land: {} is integrated into {} ({})",
                slot.branch,
                self.into,
                how.describe()
            ));
        } else {
            steps.push(format!(
                "rebase {} ({} commit(s)) onto {} ({}) in {}",
                slot.branch,
                self.commits.len(),
                self.into,
                self.base.to_hex_with_len(7),
                slot.path.display()
            ));
            for command in &self.test {
                steps.push(format!("test in the slot, with its environment: {command}"));
            }
            let what = match self.strategy {
                Strategy::Squash => "one squashed commit".to_string(),
                Strategy::Rebase => format!("its {} commit(s)", self.commits.len()),
                Strategy::NoFf => "a merge commit".to_string(),
            };
            steps.push(match &self.worktree {
                Some(dir) => format!(
                    "land {what} on {}: `git merge --ff-only` in {}",
                    self.into,
                    dir.display()
                ),
                None => format!(
                    "land {what} on {}: compare-and-swap of refs/heads/{} (not checked out anywhere)",
                    self.into, self.into
                ),
            });
            for command in &self.after {
                steps.push(match &self.worktree {
                    Some(dir) => format!("after, in {}: {command}", dir.display()),
                    None => format!(
                        "after: skipped ({} is not checked out): {command}",
                        self.into
                    ),
                });
            }
        }
        steps.push(if keep {
            format!("keep slot {} (--keep)", slot.name)
        } else {
            format!(
                "remove slot {} as `git agent rm` does (worktree, branch, ports, data)",
                slot.name
            )
        });
        let mut text = format!(
            "merge slot {} ({}) into {}, {}:\n",
            slot.name,
            slot.branch,
            self.into,
            self.strategy.as_str()
        );
        for (i, step) in steps.iter().enumerate() {
            text.push_str(&format!("  {}. {step}\n", i + 1));
        }
        if !self.unapproved.is_empty() {
            text.push_str(&format!(
                "not approved yet (`git agent approve`): {}\n",
                self.unapproved.join("; ")
            ));
        }
        if let Some(message) = &self.message
            && self.integrated.is_none()
        {
            text.push_str("message:\n");
            for line in message.lines() {
                text.push_str(&format!("  | {line}\n"));
            }
        }
        text
    }

    /// The fields `--json` shares between the plan and the result.
    pub fn json(&self) -> serde_json::Value {
        json!({
            "version": 2,
            "slot": self.slot.name,
            "branch": self.slot.branch,
            "into": self.into,
            "strategy": self.strategy.as_str(),
            "base": self.base.to_string(),
            "tip": self.tip.to_string(),
            "integrated": self.integrated.is_some(),
            "how": self.integrated.map(How::as_str),
            "commits": self.commits,
            "files": self.files,
            "worktree": self.worktree,
            "test": self.test,
            "after": self.after,
            "unapproved": self.unapproved,
            // Nothing is committed for a branch already integrated.
            "message": self.message.as_ref().filter(|_| self.integrated.is_none()),
        })
    }
}

/// `merge --json` after a landing: the plan's fields with what was done.
pub fn landed_json(plan: &Plan, landed: &Landed, removed: bool) -> serde_json::Value {
    let mut value = plan.json();
    if let Some(object) = value.as_object_mut() {
        object.insert("dry_run".into(), json!(false));
        object.insert("keep".into(), json!(!removed));
        object.insert("landed".into(), json!(landed.new.is_some()));
        object.insert("old".into(), json!(landed.old.to_string()));
        object.insert("new".into(), json!(landed.new.map(|n| n.to_string())));
        object.insert("rebased".into(), json!(landed.rebased.to_string()));
        object.insert(
            "moved".into(),
            json!(landed.moved.as_ref().map(|m| match m {
                Moved::Worktree(_) => "worktree",
                Moved::Ref => "ref",
            })),
        );
        object.insert("tested".into(), json!(landed.tested));
        object.insert("after_ran".into(), json!(landed.after));
        object.insert("after_skipped".into(), json!(landed.after_skipped));
        object.insert("removed".into(), json!(removed));
    }
    value
}

/// `merge --dry-run --json`: the plan, and whether the slot would stay.
pub fn planned_json(plan: &Plan, keep: bool) -> serde_json::Value {
    let mut value = plan.json();
    if let Some(object) = value.as_object_mut() {
        object.insert("dry_run".into(), json!(true));
        object.insert("keep".into(), json!(keep));
    }
    value
}
