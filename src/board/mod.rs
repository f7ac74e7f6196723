//! The board: every worktree of the repository — the main one, the slots, the others — with
//! what runs in it (agents, dev servers and their ports, busy or idle), its git state and its
//! last activity. Gathering (here) is apart from rendering (`table`, `json`), so `ls`, `ls
//! --json` and `ls --watch` share one model; a [`Gatherer`] kept between refreshes reuses
//! what did not change.

pub mod gitstate;
pub mod json;
pub mod table;
pub mod watch;

mod cells;
mod fit;
mod layout;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use crate::git::Repo;
use crate::land::readiness::{self, Readiness};
use crate::procs::{Proc, Scanner};
use crate::slot::{self, Slot};
use crate::{ports, worktrees};
use gitstate::{GitState, Target};

/// What a row is.
#[derive(Debug, Clone)]
pub enum Kind {
    /// The repository's main worktree.
    Main,
    Slot(Box<Slot>),
    /// A worktree that is not a slot (`git worktree add`, another tool's).
    Other(worktrees::Other),
}

#[derive(Debug, Clone)]
pub struct Row {
    pub kind: Kind,
    pub path: PathBuf,
    pub branch: Option<String>,
    /// Slots: which leased ports something accepts connections on.
    pub listening: BTreeMap<String, bool>,
    /// `None` when not read (`--no-status`).
    pub git: Option<GitState>,
    /// Slots: whether the branch is integrated into its base or would merge cleanly; `None`
    /// when not read (`--no-status`).
    pub landing: Option<Readiness>,
    /// The processes inside; `None` where the platform does not tell.
    pub processes: Option<Vec<Proc>>,
    /// When its files or HEAD last changed (seconds since the epoch).
    pub activity: Option<u64>,
    /// The current directory is inside it.
    pub here: bool,
}

impl Row {
    pub fn slot(&self) -> Option<&Slot> {
        match &self.kind {
            Kind::Slot(slot) => Some(slot),
            _ => None,
        }
    }

    /// The process that stands for the work done here: a known agent CLI (the first
    /// started), else whatever runs here that is neither a shell nor a server ("whatever the
    /// command is"). A server's launchers (`npm run dev` above the node that listens) are
    /// part of the server, and `git agent exec`'s git wrapper part of what it runs.
    pub fn lead(&self) -> Option<&Proc> {
        let procs = self.processes.as_ref()?;
        let serves = |p: &Proc| p.ports.as_ref().is_some_and(|ports| !ports.is_empty());
        let mut launchers: Vec<u32> = Vec::new();
        for server in procs.iter().filter(|p| serves(p)) {
            let mut at = server.parent;
            while let Some(pid) = at
                && !launchers.contains(&pid)
                && let Some(parent) = procs.iter().find(|p| p.pid == pid)
            {
                launchers.push(pid);
                at = parent.parent;
            }
        }
        procs.iter().find(|p| p.agent.is_some()).or_else(|| {
            let workers: Vec<&Proc> = procs
                .iter()
                .filter(|p| {
                    !p.shell && !serves(p) && !launchers.contains(&p.pid) && !runs_git_agent(p)
                })
                .collect();
            // The top of a tree of workers (`npm test` rather than the node it starts).
            workers
                .iter()
                .find(|p| !workers.iter().any(|q| Some(q.pid) == p.parent))
                .copied()
        })
    }

    /// Whether `lead` or anything it started here used the CPU over the sample.
    pub fn lead_busy(&self) -> Option<bool> {
        let lead = self.lead()?;
        let procs = self.processes.as_ref()?;
        let mut family = vec![lead.pid];
        // Parents start before their children: one pass in start order finds the tree.
        for p in procs {
            if p.parent.is_some_and(|parent| family.contains(&parent)) && !family.contains(&p.pid) {
                family.push(p.pid);
            }
        }
        let states: Vec<Option<bool>> = procs
            .iter()
            .filter(|p| family.contains(&p.pid))
            .map(|p| p.busy)
            .collect();
        if states.contains(&Some(true)) {
            Some(true)
        } else if states.iter().all(Option::is_some) {
            Some(false)
        } else {
            None
        }
    }

    /// The processes that listen on TCP ports (dev servers).
    pub fn servers(&self) -> Vec<&Proc> {
        self.processes
            .iter()
            .flatten()
            .filter(|p| p.ports.as_ref().is_some_and(|ports| !ports.is_empty()))
            .collect()
    }
}

pub struct Board {
    pub rows: Vec<Row>,
    /// When it was gathered (seconds since the epoch).
    pub now: u64,
    /// Whether processes were looked for (not with `--no-status`).
    pub processes: bool,
}

/// How often a status is read again although nothing it depends on seems to have changed (an
/// editor outside the slot may have written a file in it); one such worktree per refresh.
const RECHECK: Duration = Duration::from_secs(30);

/// Gathers the board, and keeps what it read for the next time (`--watch`).
pub struct Gatherer {
    status: bool,
    /// Read the status of this worktree only (`env --json` on one slot).
    only: Option<PathBuf>,
    scanner: Option<Scanner>,
    /// The last status of each worktree, with the fingerprint it was read under and when.
    cache: HashMap<PathBuf, (Vec<Option<SystemTime>>, Instant, GitState)>,
    /// The last readiness of each slot, read with its status.
    landing: HashMap<PathBuf, Readiness>,
}

impl Gatherer {
    /// `status`: read each worktree's git state, and what runs in it (not with `--no-status`,
    /// which reads the slot records and probes the leased ports only).
    pub fn new(status: bool) -> Gatherer {
        Gatherer {
            status,
            only: None,
            scanner: None,
            cache: HashMap::new(),
            landing: HashMap::new(),
        }
    }

    /// Reads the board. With `sample`, waits until the CPU time of the processes found was
    /// sampled over at least that long (a one-off `ls`); without, busy and idle are measured
    /// since the previous call (`--watch`).
    pub fn gather(&mut self, repo: &Repo, cwd: &Path, sample: Option<Duration>) -> Result<Board> {
        let started = Instant::now();
        // The process table first: the sample's window then covers the git work below. Not
        // with `--no-status`, which reads the records only.
        match &mut self.scanner {
            Some(scanner) => scanner.rescan(),
            None if self.status => self.scanner = Some(Scanner::scan()),
            None => {}
        }
        let scanned = started.elapsed();
        let slots = slot::load_all(&repo.common_dir)?;
        // One read of git's worktree list, for the main row and the worktrees that are not slots.
        let all = repo.worktrees().unwrap_or_default();
        let main = all.iter().find(|w| w.main).cloned();
        let others = worktrees::classify(repo, all, &slots);
        let mut rows = Vec::new();
        if let Some(main) = main {
            rows.push(row(Kind::Main, main.path, main.branch));
        }
        let listening = ports::Listening::now();
        for slot in slots {
            let (path, branch) = (slot.path.clone(), Some(slot.branch.clone()));
            let mut r = row(Kind::Slot(Box::new(slot)), path, branch);
            if let Some(slot) = r.slot() {
                r.listening = slot
                    .ports
                    .iter()
                    .map(|(name, port)| (name.clone(), listening.on(*port)))
                    .collect();
            }
            rows.push(r);
        }
        for other in others {
            let (path, branch) = (other.path.clone(), other.branch.clone());
            rows.push(row(Kind::Other(other), path, branch));
        }
        let roots: Vec<PathBuf> = rows.iter().map(|r| r.path.clone()).collect();
        let before_inside = Instant::now();
        let mut groups = self.scanner.as_mut().and_then(|s| s.inside(&roots));
        let attributed = before_inside.elapsed();
        let table_size = self.scanner.as_ref().map_or(0, Scanner::count);
        let processes_seen = groups.is_some();
        let here = deepest(&roots, cwd);
        for (i, r) in rows.iter_mut().enumerate() {
            r.here = here == Some(i);
            r.processes = groups.as_mut().map(|g| std::mem::take(&mut g[i]));
        }
        let before_status = Instant::now();
        let read = if self.status {
            self.read_statuses(repo, &mut rows)
        } else {
            0
        };
        let statused = before_status.elapsed();
        for r in &mut rows {
            let files = r.git.as_ref().and_then(|g| g.newest_change);
            r.activity = gitstate::git_activity(&r.path).max(files);
        }
        let before_sample = Instant::now();
        if let Some(window) = sample {
            let mut groups: Vec<Vec<Proc>> = rows
                .iter_mut()
                .map(|r| r.processes.take().unwrap_or_default())
                .collect();
            if let Some(scanner) = self.scanner.as_mut() {
                scanner.sample(&mut groups, window);
            }
            for (r, g) in rows.iter_mut().zip(groups) {
                if processes_seen {
                    r.processes = Some(g);
                }
            }
        }
        if std::env::var_os("GIT_AGENT_TIMINGS").is_some() {
            // For bench/run: where the time of one gathering went.
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            eprintln!(
                "git-agent: timing: scan {:.2} ms ({table_size} processes), attribute {:.2} ms, \
                 status {:.2} ms ({read} read), sample {:.2} ms, total {:.2} ms",
                ms(scanned),
                ms(attributed),
                ms(statused),
                ms(before_sample.elapsed()),
                ms(started.elapsed())
            );
        }
        Ok(Board {
            rows,
            now: slot::now(),
            processes: self.scanner.is_some(),
        })
    }

    /// Statuses of the rows whose fingerprint changed, or where something used the CPU, or
    /// that were not read for a while; the others keep their last one.
    fn read_statuses(&mut self, repo: &Repo, rows: &mut [Row]) -> usize {
        let mut targets = Vec::new();
        let mut stale: Option<(Instant, Vec<Option<SystemTime>>, Target)> = None;
        for r in rows.iter() {
            if self.only.as_ref().is_some_and(|only| *only != r.path) {
                continue;
            }
            let print = gitstate::fingerprint(&r.path, &repo.common_dir);
            let active = r.processes.iter().flatten().any(|p| p.busy == Some(true));
            match self.cache.get(&r.path) {
                Some((old, at, _)) if *old == print && !active => {
                    // Unchanged, as far as can be seen cheaply: read again after a while, the
                    // oldest one per refresh, so that no refresh reads them all at once.
                    if at.elapsed() >= RECHECK && stale.as_ref().is_none_or(|(t, _, _)| at < t) {
                        stale = Some((*at, print, target(r)));
                    }
                }
                _ => targets.push((print, target(r))),
            }
        }
        if let Some((_, print, t)) = stale {
            targets.push((print, t));
        }
        let list: Vec<&Target> = targets.iter().map(|(_, t)| t).collect();
        let read = list.len();
        let states = gitstate::statuses(&list);
        // Integrated? Would it conflict? For the slots read again (one `git merge-tree` for all).
        let again: Vec<Slot> = rows
            .iter()
            .filter(|r| list.iter().any(|t| t.path == r.path))
            .filter_map(|r| r.slot().cloned())
            .collect();
        if !again.is_empty() {
            for (slot, ready) in again.iter().zip(readiness::of_slots(repo, &again)) {
                self.landing.insert(slot.path.clone(), ready);
            }
        }
        let now = Instant::now();
        for ((print, t), state) in targets.into_iter().zip(states) {
            self.cache.insert(t.path, (print, now, state));
        }
        for r in rows.iter_mut() {
            r.git = self.cache.get(&r.path).map(|(_, _, s)| s.clone());
            if r.slot().is_some() {
                r.landing = self.landing.get(&r.path).cloned();
            }
        }
        read
    }
}

/// The board's row of the slot at `path`, its status read alone (for `env --json`), and when
/// it was read.
pub fn slot_row(repo: &Repo, cwd: &Path, path: &Path) -> Result<Option<(Row, u64)>> {
    let mut gatherer = Gatherer::new(true);
    gatherer.only = Some(path.to_path_buf());
    let board = gatherer.gather(repo, cwd, Some(crate::procs::SAMPLE))?;
    let now = board.now;
    Ok(board
        .rows
        .into_iter()
        .find(|r| r.slot().is_some() && r.path == path)
        .map(|r| (r, now)))
}

fn row(kind: Kind, path: PathBuf, branch: Option<String>) -> Row {
    Row {
        kind,
        path,
        branch,
        listening: BTreeMap::new(),
        git: None,
        landing: None,
        processes: None,
        activity: None,
        here: false,
    }
}

/// What a row's branch is compared with: a slot's base; the main worktree's upstream.
fn target(r: &Row) -> Target {
    let base = match &r.kind {
        Kind::Slot(slot) => Some(slot.base.clone()),
        Kind::Main => Some("@{upstream}".to_string()),
        Kind::Other(_) => None,
    };
    Target {
        path: r.path.clone(),
        base,
    }
}

/// The index of the deepest root that holds `dir`: compared as written, else (a path through
/// a symlink) with both sides resolved, which costs a resolution per root.
fn deepest(roots: &[PathBuf], dir: &Path) -> Option<usize> {
    let deepest_of = |holds: &dyn Fn(&Path) -> bool| {
        roots
            .iter()
            .enumerate()
            .filter(|(_, root)| holds(root))
            .max_by_key(|(_, root)| root.as_os_str().len())
            .map(|(i, _)| i)
    };
    deepest_of(&|root| dir.starts_with(root)).or_else(|| {
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        deepest_of(&|root| {
            real.starts_with(std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()))
        })
    })
}

/// `git agent ...`: git running git-agent, which for `exec` waits while the command runs.
fn runs_git_agent(p: &Proc) -> bool {
    let mut words = p.command.split(' ');
    words
        .next()
        .is_some_and(|program| program == "git" || program.ends_with("/git"))
        && words.next() == Some("agent")
}
