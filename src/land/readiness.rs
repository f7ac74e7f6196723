//! Per slot, for the board: is its branch integrated into its base, and if not, would merging
//! it now conflict? Integration is checked in-process on one thread per core; the forecasts
//! of all slots come from one in-memory `git merge-tree` run.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::forecast::{self, Scratch};
use super::integration::{self, How, Missing, Verdict};
use crate::git::Repo;
use crate::slot::Slot;

/// Where a slot's branch stands against its base.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    /// Where and how it is integrated, if it is.
    pub integrated: Option<(String, How)>,
    /// What is not in the base yet, if it is not integrated.
    pub missing: Option<Missing>,
    /// Whether merging into the base now would conflict, and in which files; `None` when not
    /// forecast (integrated, nothing to merge, or it could not be read).
    pub conflicts: Option<Vec<String>>,
    /// Why it could not be read.
    pub error: Option<String>,
    /// The branch is still at the commit the slot started from: nothing was committed yet, so
    /// "integrated" would be true but says nothing.
    pub fresh: bool,
}

/// A slot's readiness so far, and the (base, tip) pair still to forecast.
type Partial = (Readiness, Option<(String, String)>);

/// The readiness of every slot, in order.
///
/// `GIT_AGENT_BENCH_LANDING` (for `bench/run`, which times `ls` with and without this work in
/// the same run): `none` skips it all, `integration` skips the conflict forecasts.
pub fn of_slots(repo: &Repo, slots: &[Slot]) -> Vec<Readiness> {
    let bench = std::env::var("GIT_AGENT_BENCH_LANDING").unwrap_or_default();
    if bench == "none" {
        return vec![Readiness::default(); slots.len()];
    }
    let sync = repo.gix.clone().into_sync();
    let dir = repo.main_worktree.as_path();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let found: Vec<Mutex<Partial>> = slots
        .iter()
        .map(|_| Mutex::new((Readiness::default(), None)))
        .collect();
    std::thread::scope(|scope| {
        for _ in 0..cores.min(slots.len()) {
            scope.spawn(|| {
                let local = sync.to_thread_local();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(i) else { break };
                    let state = integration_of(&local, dir, slot);
                    if let Ok(mut cell) = found[i].lock() {
                        *cell = state;
                    }
                }
            });
        }
    });
    let mut states: Vec<Partial> = found
        .into_iter()
        .map(|cell| cell.into_inner().unwrap_or_default())
        .collect();
    let wanted: Vec<(usize, (String, String))> = states
        .iter()
        .enumerate()
        .filter_map(|(i, (_, pair))| pair.clone().map(|p| (i, p)))
        .collect();
    if wanted.is_empty() || bench == "integration" {
        return states.into_iter().map(|(r, _)| r).collect();
    }
    let pairs: Vec<(String, String)> = wanted.iter().map(|(_, p)| p.clone()).collect();
    let merged = Scratch::new(&repo.common_dir)
        .and_then(|s| forecast::merges(&repo.main_worktree, &s, &pairs));
    match merged {
        Ok(merged) => {
            for ((i, _), merge) in wanted.iter().zip(merged) {
                states[*i].0.conflicts = Some(if merge.clean { vec![] } else { merge.files });
            }
        }
        Err(e) => {
            for (i, _) in &wanted {
                states[*i].0.error = Some(format!("{e:#}"));
            }
        }
    }
    states.into_iter().map(|(r, _)| r).collect()
}

/// The slot's integration, and the (base, tip) pair to forecast when it is not integrated.
fn integration_of(repo: &gix::Repository, dir: &std::path::Path, slot: &Slot) -> Partial {
    let mut out = Readiness::default();
    let Ok(tip) = repo.rev_parse_single(format!("refs/heads/{}", slot.branch).as_str()) else {
        out.error = Some(format!("branch {} does not exist", slot.branch));
        return (out, None);
    };
    let tip = tip.detach();
    out.fresh = slot
        .start
        .as_deref()
        .and_then(|start| gix::ObjectId::from_hex(start.as_bytes()).ok())
        == Some(tip);
    let targets = integration::targets(repo, &slot.base);
    if targets.is_empty() {
        out.error = Some(format!("base {} does not resolve", slot.base));
        return (out, None);
    }
    match integration::check(repo, dir, tip, &targets) {
        Ok(Verdict::Integrated { into, how }) => {
            out.integrated = Some((into, how));
            (out, None)
        }
        Ok(Verdict::NotIntegrated(missing)) => {
            out.missing = Some(missing);
            (out, Some((targets[0].id.to_string(), tip.to_string())))
        }
        Err(e) => {
            out.error = Some(format!("{e:#}"));
            (out, None)
        }
    }
}
