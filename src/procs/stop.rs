//! Processes still running in a slot that is about to go (`rm`, `merge`): listed and refused,
//! stopped with `--kill`, or left running with `--force`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, Signal, System};

use super::Proc;

/// How long a process gets to exit after SIGTERM before it gets SIGKILL.
const GRACE: Duration = Duration::from_secs(3);
/// How long after SIGKILL before giving up on it.
const AFTER_KILL: Duration = Duration::from_secs(2);

/// Makes sure no process is left running inside the slots about to be removed or merged
/// (`slots`: name and directory). Without `kill` or `force`, refuses (exit 3) and lists them;
/// with `kill`, stops them (SIGTERM, a short wait, SIGKILL) and reports each on stderr; with
/// `force` alone, goes ahead and names what keeps running. The command itself and the
/// processes it runs under (an agent removing its own slot) never count.
pub fn clear_slot(slots: &[(&str, &Path)], kill: bool, force: bool) -> Result<()> {
    let roots: Vec<PathBuf> = slots.iter().map(|(_, p)| p.to_path_buf()).collect();
    let Some(found) = live_in_each(&roots) else {
        eprintln!(
            "git-agent: warning: this system does not say which processes run in a slot; \
             make sure none still does"
        );
        return Ok(());
    };
    let found = without_finished_upkeep(found)?;
    let running: Vec<(&str, &Path, Vec<Proc>)> = slots
        .iter()
        .zip(found)
        .filter(|(_, procs)| !procs.is_empty())
        .map(|((name, path), procs)| (*name, *path, procs))
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    if kill {
        let mut all: Vec<Proc> = running.into_iter().flat_map(|(_, _, p)| p).collect();
        // What they started while being stopped (a supervisor restarting its worker) is
        // stopped too, a few rounds at most.
        for _ in 0..3 {
            stop(&all)?;
            all = live_in_each(&roots)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect();
            if all.is_empty() {
                return Ok(());
            }
        }
        let list: Vec<String> = all.iter().map(Proc::describe).collect();
        bail!(
            "processes keep starting in the slot: {}; nothing was removed",
            list.join(", ")
        );
    }
    let mut text = String::new();
    for (name, path, procs) in &running {
        text.push_str(&format!(
            "{} process(es) still run in slot {name} ({}):\n",
            procs.len(),
            path.display()
        ));
        for p in procs {
            text.push_str(&format!("    - {}\n", p.describe()));
        }
    }
    if force {
        eprintln!(
            "git-agent: warning: going ahead (--force) while these keep running in a directory that will be gone:\n{}",
            text.trim_end()
        );
        return Ok(());
    }
    text.push_str(
        "stop them, or pass --kill to stop them (SIGTERM, then SIGKILL), or --force to go ahead while they run",
    );
    Err(crate::error::refused(text))
}

/// [`super::live_in`] for several roots at once, from one reading of the process table.
pub(super) fn live_in_each(roots: &[PathBuf]) -> Option<Vec<Vec<Proc>>> {
    let mut scanner = super::Scanner::scan();
    let skip = scanner.me_and_ancestors();
    let mut groups = scanner.inside(roots)?;
    for group in &mut groups {
        group.retain(|p| !skip.contains(&p.pid));
    }
    Some(groups)
}

/// How long git's own background upkeep in a slot is waited for before it counts as a process
/// still running there.
const UPKEEP_WAIT: Duration = Duration::from_secs(10);

/// Whether `p` is git's background upkeep: `git commit`, `git rebase` and `git merge` start
/// `git maintenance run --auto --detach` (or `git gc --auto`) detached, in the worktree they
/// ran in, and it outlives them by a moment even when there is nothing to do. A `git agent
/// merge` or `rm` right after an agent's last commit would otherwise find it and refuse.
fn is_git_upkeep(p: &Proc) -> bool {
    let mut words = p.command.split_whitespace();
    let program = words.next().unwrap_or("");
    let program = program.rsplit('/').next().unwrap_or(program);
    let rest: Vec<&str> = words.collect();
    program == "git"
        && matches!(rest.first().copied(), Some("maintenance" | "gc"))
        && rest.contains(&"--auto")
}

/// `found` with git's background upkeep (and what it runs, such as a `pre-auto-gc` hook) left
/// out once it has finished, waited for (up to [`UPKEEP_WAIT`]); what is still running after
/// that is kept, to be listed.
fn without_finished_upkeep(mut found: Vec<Vec<Proc>>) -> Result<Vec<Vec<Proc>>> {
    let all: Vec<&Proc> = found.iter().flatten().collect();
    let mut pids: Vec<u32> = all
        .iter()
        .filter(|p| is_git_upkeep(p))
        .map(|p| p.pid)
        .collect();
    if pids.is_empty() {
        return Ok(found);
    }
    loop {
        let more: Vec<u32> = all
            .iter()
            .filter(|p| !pids.contains(&p.pid) && p.parent.is_some_and(|q| pids.contains(&q)))
            .map(|p| p.pid)
            .collect();
        if more.is_empty() {
            break;
        }
        pids.extend(more);
    }
    let upkeep: Vec<Proc> = all
        .into_iter()
        .filter(|p| pids.contains(&p.pid))
        .cloned()
        .collect();
    let (mut system, refresh, alive) = watcher(&upkeep);
    refresh(&mut system);
    if upkeep.iter().any(|p| alive(&system, p)) {
        eprintln!(
            "git-agent: waiting for git's background maintenance (started by a git command in the slot) to finish, up to {} s",
            UPKEEP_WAIT.as_secs()
        );
    }
    let left = wait_for_exit(&mut system, &upkeep, UPKEEP_WAIT, &refresh, &alive)?;
    for group in &mut found {
        group.retain(|p| !pids.contains(&p.pid) || left.iter().any(|l| l.pid == p.pid));
    }
    Ok(found)
}

type Refresh = Box<dyn Fn(&mut System)>;
type Alive = fn(&System, &Proc) -> bool;

/// A view of just `procs`, how to read them again, and whether one is still the process
/// that was listed (not a new one that got its pid).
fn watcher(procs: &[Proc]) -> (System, Refresh, Alive) {
    let pids: Vec<Pid> = procs.iter().map(|p| Pid::from_u32(p.pid)).collect();
    let refresh = move |system: &mut System| {
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&pids),
            true,
            ProcessRefreshKind::nothing().without_tasks(),
        );
    };
    let alive = |system: &System, p: &Proc| {
        system.process(Pid::from_u32(p.pid)).is_some_and(|q| {
            q.start_time() == p.started && q.exists() && q.status() != ProcessStatus::Zombie
        })
    };
    (System::new(), Box::new(refresh), alive)
}

/// Stops `procs`: SIGTERM, up to a few seconds for them to exit, then SIGKILL for the rest.
/// Says on stderr what happened to each; fails if one survives (or on Ctrl-C, before the
/// caller has removed anything).
pub fn stop(procs: &[Proc]) -> Result<()> {
    let (mut system, refresh, alive) = watcher(procs);
    refresh(&mut system);
    for p in procs.iter().filter(|p| alive(&system, p)) {
        if let Some(process) = system.process(Pid::from_u32(p.pid)) {
            process.kill_with(Signal::Term);
            eprintln!("git-agent: sent SIGTERM to {}", p.describe());
        }
    }
    let mut left = wait_for_exit(&mut system, procs, GRACE, &refresh, &alive)?;
    for p in &left {
        if let Some(process) = system.process(Pid::from_u32(p.pid)) {
            process.kill_with(Signal::Kill);
            eprintln!(
                "git-agent: pid {} did not exit within {} s; sent SIGKILL",
                p.pid,
                GRACE.as_secs()
            );
        }
    }
    if !left.is_empty() {
        left = wait_for_exit(&mut system, &left, AFTER_KILL, &refresh, &alive)?;
    }
    for p in procs
        .iter()
        .filter(|p| !left.iter().any(|l| l.pid == p.pid))
    {
        eprintln!("git-agent: stopped pid {} ({})", p.pid, p.name);
    }
    if !left.is_empty() {
        let list: Vec<String> = left.iter().map(Proc::describe).collect();
        bail!("could not stop {}; nothing was removed", list.join(", "));
    }
    Ok(())
}

fn wait_for_exit(
    system: &mut System,
    procs: &[Proc],
    limit: Duration,
    refresh: &dyn Fn(&mut System),
    alive: &dyn Fn(&System, &Proc) -> bool,
) -> Result<Vec<Proc>> {
    let deadline = Instant::now() + limit;
    loop {
        refresh(system);
        let left: Vec<Proc> = procs.iter().filter(|p| alive(system, p)).cloned().collect();
        if left.is_empty() || Instant::now() >= deadline {
            return Ok(left);
        }
        if crate::txn::interrupted() {
            return Err(crate::error::Interrupted.into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
