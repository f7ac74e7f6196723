//! `git agent ls`: the board. One row per slot: branch, ports (marked when listening),
//! database, git state and path. Git state is read with gix, on one thread per core.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use serde_json::json;

use crate::cli::Ls;
use crate::git::Repo;
use crate::land::readiness::{self, Readiness};
use crate::slot::{self, Slot, State};
use crate::{output, ports, services, worktrees};

#[derive(Debug, Default, Clone)]
struct GitState {
    missing: bool,
    changes: usize,
    ahead: Option<usize>,
    behind: Option<usize>,
    error: Option<String>,
}

struct Row {
    slot: Slot,
    listening: BTreeMap<String, bool>,
    git: Option<GitState>,
    landing: Option<Readiness>,
}

pub fn run(args: &Ls) -> Result<()> {
    let repo = Repo::discover(&super::current_dir()?)?;
    let slots = slot::load_all(&repo.common_dir)?;
    if args.conflicts {
        let report = crate::land::pairwise::report(&repo, &slots, args.uncommitted)?;
        return if args.json {
            output::print_json(&report.json())
        } else {
            output::print(&report.text())
        };
    }
    let others = worktrees::others(&repo, &slots);
    let (git, landing) = if args.no_status {
        (vec![None; slots.len()], vec![None; slots.len()])
    } else {
        let landing = readiness::of_slots(&repo, &slots);
        (statuses(&slots), landing.into_iter().map(Some).collect())
    };
    // One port after the other: a connect to a closed loopback port is answered at once, and
    // threads to spread them cost more than the probes (as did reading /proc/net/tcp, which
    // walks the kernel's whole connection table; BENCHMARKS.md).
    let rows: Vec<Row> = slots
        .into_iter()
        .zip(git)
        .zip(landing)
        .map(|((slot, git), landing)| {
            let listening = slot
                .ports
                .iter()
                .map(|(k, p)| (k.clone(), ports::listening(*p)))
                .collect();
            Row {
                slot,
                listening,
                git,
                landing,
            }
        })
        .collect();
    if args.json {
        let mut all: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
        all.extend(others.iter().map(worktrees::json));
        output::print_json(&json!(all))
    } else {
        output::print(&format!(
            "{}{}",
            table(&rows, others.is_empty()),
            others_text(&others)
        ))
    }
}

/// The git state of every slot, on as many threads as there are cores: a status is CPU and
/// file-system work, and a thread per slot only made the cores take turns (BENCHMARKS.md).
fn statuses(slots: &[Slot]) -> Vec<Option<GitState>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let found: Vec<Mutex<Option<GitState>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..cores.min(slots.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(i) else { break };
                    let state = git_state(slot);
                    if let Ok(mut cell) = found[i].lock() {
                        *cell = Some(state);
                    }
                }
            });
        }
    });
    found
        .into_iter()
        .map(|cell| cell.into_inner().ok().flatten())
        .collect()
}

fn git_state(slot: &Slot) -> GitState {
    if !slot.path.is_dir() {
        return GitState {
            missing: true,
            ..Default::default()
        };
    }
    match read_git_state(&slot.path, &slot.base) {
        Ok(state) => state,
        Err(e) => GitState {
            error: Some(format!("{e:#}")),
            ..Default::default()
        },
    }
}

fn read_git_state(path: &Path, base: &str) -> Result<GitState> {
    // Nanosecond timestamps in the racy-git check: with whole seconds, every file written in
    // the second its index was (all of a fresh slot) is "racily clean" and gets hashed on
    // every `ls`, as gix, unlike `git status`, does not write the index back.
    let options = gix::open::Options::default().config_overrides(["gitoxide.core.useNsec=true"]);
    let repo = gix::open_opts(path, options)?;
    let changes = repo
        .status(gix::progress::Discard)?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .into_iter(Vec::<gix::bstr::BString>::new())?
        .filter_map(Result::ok)
        .count();
    let mut state = GitState {
        changes,
        ..Default::default()
    };
    if let (Ok(head), Ok(base)) = (repo.head_id(), repo.rev_parse_single(base)) {
        let (head, base) = (head.detach(), base.detach());
        state.ahead = Some(repo.rev_walk([head]).with_hidden([base]).all()?.count());
        state.behind = Some(repo.rev_walk([base]).with_hidden([head]).all()?.count());
    }
    Ok(state)
}

fn git_text(git: &Option<GitState>) -> String {
    let Some(git) = git else { return "-".into() };
    if git.missing {
        return "missing".into();
    }
    if let Some(e) = &git.error {
        return format!("error: {e}");
    }
    let mut text = if git.changes == 0 {
        "clean".to_string()
    } else {
        format!("dirty({})", git.changes)
    };
    match (git.ahead, git.behind) {
        (Some(0), Some(0)) | (None, _) | (_, None) => {}
        (Some(a), Some(b)) => text.push_str(&format!(" +{a}/-{b}")),
    }
    text
}

fn table(rows: &[Row], alone: bool) -> String {
    if rows.is_empty() {
        if alone {
            eprintln!("git-agent: no slots yet; create one with `git agent add <branch>`");
        }
        return String::new();
    }
    let mut cells = vec![
        ["SLOT", "BRANCH", "PORTS", "DATABASE", "GIT", "LAND", "PATH"]
            .map(String::from)
            .to_vec(),
    ];
    let mut any_listening = false;
    for row in rows {
        let mut by_port: Vec<(&String, &u16)> = row.slot.ports.iter().collect();
        by_port.sort_by_key(|(_, port)| **port);
        let ports: Vec<String> = by_port
            .into_iter()
            .map(|(name, port)| {
                let on = row.listening.get(name).copied().unwrap_or(false);
                any_listening |= on;
                format!("{port}{}", if on { "*" } else { "" })
            })
            .collect();
        let mut name = row.slot.name.clone();
        if row.slot.state != State::Ready {
            name.push_str(&format!(" ({})", row.slot.state.as_str()));
        }
        cells.push(vec![
            name,
            row.slot.branch.clone(),
            ports.join(","),
            database_text(&row.slot),
            git_text(&row.git),
            land_text(&row.landing),
            row.slot.path.display().to_string(),
        ]);
    }
    // The first line of each task, when any slot has one: who works on what, where.
    if rows.iter().any(|r| r.slot.task.is_some()) {
        for (i, cells_row) in cells.iter_mut().enumerate() {
            let task = match i {
                0 => "TASK".to_string(),
                _ => task_line(rows[i - 1].slot.task.as_deref()),
            };
            cells_row.insert(6, task);
        }
    }
    let widths: Vec<usize> = (0..cells[0].len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if any_listening {
        out.push_str("(* = something is listening on the port)\n");
    }
    out
}

/// Whether the branch is integrated into its base, or would merge cleanly or conflict.
fn land_text(landing: &Option<Readiness>) -> String {
    let Some(landing) = landing else {
        return "-".into();
    };
    if landing.integrated.is_some() {
        return "integrated".into();
    }
    match &landing.conflicts {
        Some(files) if files.is_empty() => "ready".into(),
        Some(files) => format!("conflict({})", files.len()),
        None if landing.error.is_some() => "?".into(),
        None => "-".into(),
    }
}

/// A task's first line, shortened to fit a table row.
fn task_line(task: Option<&str>) -> String {
    const WIDTH: usize = 48;
    let line = task
        .and_then(|t| t.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("-")
        .trim();
    if line.chars().count() > WIDTH {
        format!("{}...", line.chars().take(WIDTH - 3).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The database, with the slot's own directory left out of paths inside it.
fn database_text(slot: &Slot) -> String {
    let Some(db) = &slot.resources.database else {
        return "-".into();
    };
    let text = services::describe_database(db);
    let root = format!("{}/", slot.path.display());
    text.replace(&root, "")
}

fn row_json(row: &Row) -> serde_json::Value {
    let slot = &row.slot;
    let git = row.git.as_ref().map(|g| {
        json!({
            "missing": g.missing,
            "dirty": g.changes > 0,
            "changes": g.changes,
            "ahead": g.ahead,
            "behind": g.behind,
            "error": g.error,
        })
    });
    // The slot as `add --json` shows it (ports as numbers, as everywhere), with which ports
    // are listening and the git state instead of the env.
    let mut value = crate::provision::slot_json(slot);
    if let Some(object) = value.as_object_mut() {
        object.remove("env");
        object.insert("listening".into(), json!(row.listening));
        object.insert("git".into(), json!(git));
        object.insert(
            "landing".into(),
            row.landing
                .as_ref()
                .map_or(serde_json::Value::Null, |l| landing_json(&row.slot, l)),
        );
    }
    value
}

/// The worktrees that are not slots, below the table, each with the command that adopts it.
fn others_text(others: &[worktrees::Other]) -> String {
    if others.is_empty() {
        return String::new();
    }
    let mut out = String::from("not slots (`git agent adopt PATH` makes one a slot):\n");
    let width = others
        .iter()
        .map(|o| o.branch.as_deref().unwrap_or("(detached)").chars().count())
        .max()
        .unwrap_or(0);
    for other in others {
        let branch = other.branch.as_deref().unwrap_or("(detached)");
        let by = other
            .made_by
            .map(|t| format!("  ({})", t.label()))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {branch:<width$}  {}{by}\n",
            other.path.display()
        ));
    }
    out
}

/// The `landing` object of `ls --json`.
fn landing_json(slot: &Slot, landing: &Readiness) -> serde_json::Value {
    let (into, how) = match &landing.integrated {
        Some((into, how)) => (Some(into.clone()), Some(how.as_str())),
        None => (None, None),
    };
    json!({
        "into": slot.base,
        "integrated": landing.integrated.is_some(),
        "integrated_into": into,
        "how": how,
        "commits": landing.missing.as_ref().map(|m| m.commits),
        "conflicts": landing.conflicts.as_ref().map(|f| !f.is_empty()),
        "conflict_files": landing.conflicts.clone().unwrap_or_default(),
        "error": landing.error,
    })
}
