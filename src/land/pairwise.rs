//! `ls --conflicts`: which slots conflict with each other and with their base, pairwise and
//! with the files, and an order to land them in that keeps conflicts fewest. Every merge is
//! in memory, all of them in one `git merge-tree` run; with `uncommitted`, each slot's
//! uncommitted and untracked changes count as if committed (in a scratch object directory,
//! the slot itself untouched).

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::json;

use super::forecast::{self, Scratch};
use super::order;
use super::readiness;
use crate::git::Repo;
use crate::slot::{Slot, State};

/// One slot taking part.
struct Entry {
    name: String,
    branch: String,
    base: String,
    base_id: String,
    tip: String,
    base_files: Vec<String>,
}

/// Everything `ls --conflicts` shows.
pub struct Report {
    uncommitted: bool,
    entries: Vec<Entry>,
    /// Conflicting pairs: indices into `entries`, and the files.
    pairs: Vec<(usize, usize, Vec<String>)>,
    integrated: Vec<String>,
    /// Slots left out, with why.
    skipped: Vec<(String, String)>,
    /// Per base, in name order: the proposal over the indices of its entries.
    orders: Vec<(String, Vec<usize>, order::Proposal)>,
}

pub fn report(repo: &Repo, slots: &[Slot], uncommitted: bool) -> Result<Report> {
    let scratch = Scratch::new(&repo.common_dir)?;
    let ready = readiness::of_slots(repo, slots);
    let mut report = Report {
        uncommitted,
        entries: Vec::new(),
        pairs: Vec::new(),
        integrated: Vec::new(),
        skipped: Vec::new(),
        orders: Vec::new(),
    };
    for (slot, state) in slots.iter().zip(ready) {
        if slot.state != State::Ready {
            report
                .skipped
                .push((slot.name.clone(), slot.state.as_str().to_string()));
            continue;
        }
        if let Some(e) = state.error {
            report.skipped.push((slot.name.clone(), e));
            continue;
        }
        let Some(branch_tip) = repo.resolve(&format!("refs/heads/{}", slot.branch)) else {
            continue;
        };
        let mut tip = branch_tip.to_string();
        let mut uncommitted_work = false;
        if uncommitted && slot.path.is_dir() {
            let index = gix::open(&slot.path)
                .map(|r| r.index_path())
                .unwrap_or_else(|_| slot.path.join(".git/index"));
            let with_changes = forecast::worktree_commit(&slot.path, &index, &scratch)?;
            uncommitted_work = with_changes != tip;
            tip = with_changes;
        }
        // Uncommitted changes are work to land even on an integrated branch.
        if state.integrated.is_some() && !uncommitted_work {
            report.integrated.push(slot.name.clone());
            continue;
        }
        let Some(base_id) = repo.resolve(&slot.base) else {
            report.skipped.push((
                slot.name.clone(),
                format!("base {} does not resolve", slot.base),
            ));
            continue;
        };
        report.entries.push(Entry {
            name: slot.name.clone(),
            branch: slot.branch.clone(),
            base: slot.base.clone(),
            base_id: base_id.to_string(),
            tip,
            base_files: Vec::new(),
        });
    }
    let n = report.entries.len();
    let mut asks: Vec<(String, String)> = report
        .entries
        .iter()
        .map(|e| (e.base_id.clone(), e.tip.clone()))
        .collect();
    let mut pair_index = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            pair_index.push((a, b));
            asks.push((report.entries[a].tip.clone(), report.entries[b].tip.clone()));
        }
    }
    let merged = forecast::merges(&repo.main_worktree, &scratch, &asks)?;
    for (i, merge) in merged.iter().take(n).enumerate() {
        if !merge.clean {
            report.entries[i].base_files = merge.files.clone();
        }
    }
    for ((a, b), merge) in pair_index.into_iter().zip(merged.into_iter().skip(n)) {
        if !merge.clean {
            report.pairs.push((a, b, merge.files));
        }
    }
    let mut by_base: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in report.entries.iter().enumerate() {
        by_base.entry(e.base.clone()).or_default().push(i);
    }
    for (base, members) in by_base {
        let local = |i: usize| members.iter().position(|&m| m == i);
        let with_base: Vec<bool> = members
            .iter()
            .map(|&i| !report.entries[i].base_files.is_empty())
            .collect();
        let pairs: Vec<(usize, usize, usize)> = report
            .pairs
            .iter()
            .filter_map(|(a, b, files)| Some((local(*a)?, local(*b)?, files.len())))
            .collect();
        let proposal = order::propose(members.len(), &with_base, &pairs);
        report.orders.push((base, members, proposal));
    }
    Ok(report)
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let state = if self.uncommitted {
            "committed and uncommitted changes"
        } else {
            "committed state; --uncommitted adds changes not committed yet"
        };
        if self.entries.is_empty() {
            out.push_str(&format!("no slots with work to land ({state})\n"));
        } else {
            out.push_str(&format!("forecast from in-memory merges ({state})\n"));
        }
        let width = self
            .entries
            .iter()
            .map(|e| e.name.chars().count())
            .max()
            .unwrap_or(0);
        out.push_str("\nconflicts between slots:\n");
        if self.pairs.is_empty() {
            out.push_str("  none\n");
        }
        for (a, b, files) in &self.pairs {
            out.push_str(&format!(
                "  {:<width$}  {:<width$}  {}\n",
                self.entries[*a].name,
                self.entries[*b].name,
                list(files)
            ));
        }
        let with_base: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !e.base_files.is_empty())
            .collect();
        if !with_base.is_empty() {
            out.push_str("\nconflicts with the base now:\n");
            for e in with_base {
                out.push_str(&format!(
                    "  {:<width$}  {}: {}\n",
                    e.name,
                    e.base,
                    list(&e.base_files)
                ));
            }
        }
        if !self.integrated.is_empty() {
            out.push_str(&format!(
                "\nintegrated already (nothing to land; `git agent rm` removes them): {}\n",
                self.integrated.join(", ")
            ));
        }
        for (name, why) in &self.skipped {
            out.push_str(&format!("\nleft out: {name}: {why}\n"));
        }
        for (base, members, proposal) in &self.orders {
            let expected = proposal.conflicts();
            out.push_str(&format!(
                "\norder to land into {base} ({expected} slot(s) expected to conflict at their turn):\n"
            ));
            for (pos, &local) in proposal.order.iter().enumerate() {
                let entry = &self.entries[members[local]];
                let against: Vec<&str> = proposal.against[pos]
                    .iter()
                    .map(|&j| self.entries[members[j]].name.as_str())
                    .collect();
                let note = match (proposal.with_base[pos], against.is_empty()) {
                    (false, true) => "lands cleanly".to_string(),
                    (true, true) => format!("conflicts with {base}: resolve in the slot first"),
                    (base_too, false) => format!(
                        "conflicts with {}{}: resolve in the slot after {} landed",
                        against.join(", "),
                        if base_too {
                            format!(" and {base}")
                        } else {
                            String::new()
                        },
                        if against.len() == 1 { "it" } else { "they" }
                    ),
                };
                out.push_str(&format!("  {}. {:<width$}  {note}\n", pos + 1, entry.name));
            }
            let names: Vec<&str> = proposal
                .order
                .iter()
                .map(|&l| self.entries[members[l]].name.as_str())
                .collect();
            out.push_str(&format!(
                "  then: {}\n",
                names
                    .iter()
                    .map(|n| format!("git agent merge {n}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let slots: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "branch": e.branch,
                    "base": e.base,
                    "conflicts_with_base": !e.base_files.is_empty(),
                    "base_files": e.base_files,
                })
            })
            .collect();
        let pairs: Vec<serde_json::Value> = self
            .pairs
            .iter()
            .map(|(a, b, files)| {
                json!({"a": self.entries[*a].name, "b": self.entries[*b].name, "files": files})
            })
            .collect();
        let orders: Vec<serde_json::Value> = self
            .orders
            .iter()
            .map(|(base, members, p)| {
                let steps: Vec<serde_json::Value> = p
                    .order
                    .iter()
                    .enumerate()
                    .map(|(pos, &l)| {
                        json!({
                            "name": self.entries[members[l]].name,
                            "conflicts_with": p.against[pos].iter().map(|&j| self.entries[members[j]].name.clone()).collect::<Vec<_>>(),
                            "conflicts_with_base": p.with_base[pos],
                        })
                    })
                    .collect();
                json!({"base": base, "slots": steps, "expected_conflicts": p.conflicts()})
            })
            .collect();
        json!({
            "version": 2,
            "uncommitted": self.uncommitted,
            "slots": slots,
            "pairs": pairs,
            "integrated": self.integrated,
            "skipped": self.skipped.iter().map(|(n, why)| json!({"name": n, "why": why})).collect::<Vec<_>>(),
            "orders": orders,
        })
    }
}

fn list(files: &[String]) -> String {
    let shown: Vec<&str> = files.iter().take(4).map(String::as_str).collect();
    match files.len().saturating_sub(4) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
