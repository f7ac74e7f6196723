//! Slots and their leases: slots stuck half-made or with their directory gone, leases in the
//! machine-wide registry without a slot, and leased ports held by processes not the slot's.

use super::report::{Level, Report};
use crate::git::Repo;
use crate::procs::Listener;
use crate::slot::{self, State};
use crate::slot_lock::SlotLock;
use crate::slot_worktree::{self as worktree, Place};
use crate::{ports, registry, services};

pub(super) fn check_slots(report: &mut Report, repo: &Repo, registry: Option<&registry::Registry>) {
    let slots = match slot::load_all(&repo.common_dir) {
        Ok(slots) => slots,
        Err(e) => {
            report.add("slot", Level::Error, format!("{e:#}"));
            return;
        }
    };
    let mut bad = 0;
    for s in &slots {
        let before = report.findings.len();
        let holds = match services::describe_resources(&s.resources).as_str() {
            "nothing" => String::new(),
            what => format!("; it holds {what}"),
        };
        let step = s
            .step
            .as_ref()
            .map(|st| format!(" at step {st}"))
            .unwrap_or_default();
        let holder = SlotLock::holder(&repo.common_dir, &s.name);
        match (s.state, holder) {
            (State::Creating | State::Removing, Some(who)) => report.slot(
                &s.name,
                Level::Info,
                format!(
                    "being {} by {who}",
                    if s.state == State::Creating { "created" } else { "removed" }
                ),
                None,
            ),
            (State::Creating, None) => report.slot(
                &s.name,
                Level::Error,
                match &s.broken {
                    Some(why) => format!("broken: an interrupted `git agent add` could not be undone: {why}{holds}"),
                    None => format!("stuck in `creating`: the `git agent add` that made it was stopped{step}{holds}"),
                },
                Some("git agent prune".into()),
            ),
            (State::Removing, None) => report.slot(
                &s.name,
                Level::Error,
                match &s.broken {
                    Some(why) => format!("broken: its removal could not be finished: {why}{holds}"),
                    None => format!("stuck in `removing`: the `git agent rm` that removed it was stopped{holds}"),
                },
                Some(format!("git agent rm {} (or git agent prune)", s.name)),
            ),
            (State::Ready, _) => match worktree::locate(&repo.common_dir, &s.path, s.worktree_id.as_deref()) {
                Place::Here => {}
                Place::Moved(to) => report.slot(
                    &s.name,
                    Level::Warning,
                    format!(
                        "git moved its worktree to {}; its record still says {}",
                        to.display(),
                        s.path.display()
                    ),
                    Some("git agent prune (the record then follows the worktree)".into()),
                ),
                Place::Locked(at, reason) => report.slot(
                    &s.name,
                    Level::Info,
                    format!("{} is not there, but git's worktree is locked ({reason})", at.display()),
                    None,
                ),
                Place::Gone => report.slot(
                    &s.name,
                    Level::Error,
                    match &s.broken {
                        Some(why) => format!("broken: its directory {} is gone and forgetting it failed: {why}{holds}", s.path.display()),
                        None => format!("its directory {} is gone", s.path.display()),
                    },
                    Some(
                        "git agent prune (forgets it and releases its ports); if you moved it: git worktree repair <new path>"
                            .to_string(),
                    ),
                ),
            },
        }
        if let Some(registry) = registry
            && !registry
                .slots
                .iter()
                .any(|e| e.repo == repo.common_dir && e.name == s.name)
        {
            report.slot(
                &s.name,
                Level::Error,
                "has no port lease in the machine-wide registry (another slot could get its ports)",
                Some("git agent prune --repair".into()),
            );
        }
        if report.findings.len() > before {
            bad += 1;
        }
        // A merge that was killed: what it had got to, and how to go on.
        if let Some(stopped) = &s.merging {
            match SlotLock::holder(&repo.common_dir, &s.name) {
                Some(who) => {
                    report.slot(&s.name, Level::Info, format!("being merged by {who}"), None)
                }
                None => {
                    bad += 1;
                    report.slot(
                        &s.name,
                        Level::Warning,
                        format!(
                            "a `git agent merge` into {} was stopped at step {} (before it, {} was at {} and {} at {}){}",
                            stopped.into,
                            s.step.as_deref().unwrap_or("?"),
                            s.branch,
                            &stopped.tip[..stopped.tip.len().min(7)],
                            stopped.into,
                            &stopped.base[..stopped.base.len().min(7)],
                            if matches!(s.step.as_deref(), Some("land" | "after")) {
                                "; if it landed, its [merge] after commands may not have run to the end"
                            } else {
                                ""
                            }
                        ),
                        Some(format!(
                            "git agent merge {} (it says what to do first if a rebase is left in progress)",
                            s.name
                        )),
                    );
                }
            }
        }
        // A landed branch is not a problem, only a hint that the slot can go.
        if s.state == State::Ready && s.path.exists() {
            use crate::land::integration::{self, Verdict};
            if let Ok(Some(Verdict::Integrated { into, how })) =
                integration::of_branch(repo, &s.branch, &s.base)
                && integration::landed_work(repo, &s.branch, how)
            {
                report.slot(
                    &s.name,
                    Level::Info,
                    format!(
                        "its branch {} is integrated into {into} ({}); the slot can go",
                        s.branch,
                        how.describe()
                    ),
                    Some(format!("git agent rm {}", s.name)),
                );
            }
        }
        for misread in crate::dotenv_forms::misread(&s.env) {
            report.about(
                "env",
                &s.name,
                Level::Warning,
                misread.describe(&s.env_file),
                "the shell hook and `git agent exec` pass it exactly; for the others, change the value in \
                 .git-agent.toml (see \"Values every reader reads\" in the README)"
                    .into(),
            );
        }
    }
    check_other_worktrees(report, repo, &slots);
    if slots.is_empty() {
        report.add("slot", Level::Ok, "this repository has no slots");
    } else if bad == 0 {
        report.add(
            "slot",
            Level::Ok,
            format!("{} slot(s), all in order", slots.len()),
        );
    }
}

/// Worktrees of the repository that are not slots: listed, each with the command that
/// adopts it; a warning when the current directory is in one (it gets no env).
fn check_other_worktrees(report: &mut Report, repo: &Repo, slots: &[slot::Slot]) {
    let here = crate::context::current_dir()
        .ok()
        .and_then(|cwd| crate::worktrees::containing(repo, slots, &cwd));
    for other in crate::worktrees::others(repo, slots) {
        let inside = here.as_ref().is_some_and(|h| h.path == other.path);
        let (level, message) = if inside {
            (Level::Warning, format!("you are in {}", other.hint()))
        } else {
            (
                Level::Info,
                format!(
                    "{} is a worktree made by {}, not a slot",
                    other.path.display(),
                    other.made_by_text()
                ),
            )
        };
        report.fix("worktree", level, message, other.adopt_command());
    }
}

/// Linked worktrees git-agent made that no slot record names (their env file or directory
/// carries git-agent's marks): a slot whose record was lost.
pub(super) fn check_orphans(
    report: &mut Report,
    repo: &Repo,
    registry: Option<&registry::Registry>,
    env_file: &str,
) {
    let Ok(slots) = slot::load_all(&repo.common_dir) else {
        return;
    };
    // A slot whose record is damaged is still a slot (the registry knows its root).
    let leased = |path: &std::path::Path| {
        registry.is_some_and(|r| {
            r.slots
                .iter()
                .any(|e| crate::fsutil::same_path(&e.root, path))
        })
    };
    for entry in worktree::entries(&repo.common_dir) {
        let Some(path) = entry.worktree else { continue };
        if slots.iter().any(|s| {
            crate::fsutil::same_path(&s.path, &path)
                || s.worktree_id.as_deref() == Some(entry.id.as_str())
        }) || leased(&path)
        {
            continue;
        }
        let env = std::fs::read_to_string(path.join(env_file)).unwrap_or_default();
        let ours = env.lines().any(|l| l.starts_with("# >>> git-agent"));
        if !ours {
            continue;
        }
        let quoted = crate::quote::posix(&path.to_string_lossy());
        report.fix(
            "orphan",
            Level::Error,
            format!(
                "{} is a worktree git-agent made (its {env_file} has git-agent's block), but no slot record names it",
                path.display()
            ),
            format!(
                "git worktree remove {quoted} (git refuses while it holds changes: save them first), \
                 or git agent adopt {quoted} to keep it as a slot"
            ),
        );
    }
}

/// Leases whose slot record is gone, in any repository.
pub(super) fn check_leases(
    report: &mut Report,
    repo: Option<&Repo>,
    registry: &registry::Registry,
) {
    let mut orphans = 0;
    for entry in &registry.slots {
        if slot::exists(&entry.repo, &entry.name) {
            if repo.is_none_or(|r| r.common_dir != entry.repo) && !entry.root.exists() {
                let main = entry.repo.parent().unwrap_or(&entry.repo);
                report.fix(
                    "lease",
                    Level::Warning,
                    format!(
                        "slot {} of {} holds ports but its directory {} is gone",
                        entry.name,
                        main.display(),
                        entry.root.display()
                    ),
                    format!(
                        "cd {} && git agent prune",
                        crate::quote::posix(&main.to_string_lossy())
                    ),
                );
            }
            continue;
        }
        orphans += 1;
        let ports: Vec<String> = entry.ports.values().map(|p| p.to_string()).collect();
        report.fix(
            "lease",
            Level::Error,
            format!(
                "ports {} are leased to slot {} ({}), which no longer exists",
                ports.join(","),
                entry.name,
                entry.root.display()
            ),
            "git agent prune",
        );
    }
    if orphans == 0 {
        report.add(
            "lease",
            Level::Ok,
            format!("{} port lease(s), each with its slot", registry.slots.len()),
        );
    }
}

/// Leased ports that something listens on, and whether that is the slot's own process.
pub(super) fn check_ports(report: &mut Report, registry: &registry::Registry) {
    let listening = ports::Listening::now();
    let busy: Vec<(&registry::Entry, &String, u16)> = registry
        .slots
        .iter()
        .flat_map(|e| e.ports.iter().map(move |(name, port)| (e, name, *port)))
        .filter(|(_, _, port)| listening.on(*port))
        .collect();
    if busy.is_empty() {
        return;
    }
    let leased: Vec<u16> = busy.iter().map(|(_, _, port)| *port).collect();
    let owners = crate::procs::listening_on(&leased);
    for (entry, var, port) in busy {
        let what = format!("port {port} ({var} of slot {})", entry.name);
        let pids = owners
            .as_ref()
            .and_then(|o| o.get(&port))
            .cloned()
            .unwrap_or_default();
        if pids.is_empty() {
            report.fix(
                "port",
                Level::Warning,
                format!("{what} is in use by a process git-agent cannot see (another user's?)"),
                format!("find it with `ss -ltnp 'sport = :{port}'` or `lsof -i :{port}`"),
            );
            continue;
        }
        let foreign: Vec<&Listener> = pids.iter().filter(|p| !belongs_to(p, entry)).collect();
        if foreign.is_empty() {
            let p = &pids[0];
            report.add(
                "port",
                Level::Ok,
                format!(
                    "{what} is in use by the slot's own pid {} ({})",
                    p.pid, p.command
                ),
            );
        } else {
            for p in foreign {
                report.fix(
                    "port",
                    Level::Error,
                    format!(
                        "{what} is held by pid {} (`{}`, in {}), which is not the slot's: the slot's own server will not be able to use it",
                        p.pid,
                        p.command,
                        p.cwd.as_ref().map(|c| c.display().to_string()).unwrap_or_else(|| "?".into())
                    ),
                    format!("stop it: kill {}", p.pid),
                );
            }
        }
    }
}

/// Started in the slot, or by its shell hook or `exec` (which set GIT_AGENT_ROOT).
fn belongs_to(process: &Listener, entry: &registry::Entry) -> bool {
    let root = entry.root.to_string_lossy();
    let in_slot = process.cwd.as_ref().is_some_and(|c| {
        c.starts_with(&entry.root)
            || std::fs::canonicalize(&entry.root).is_ok_and(|r| c.starts_with(r))
    });
    in_slot
        || process
            .environ
            .iter()
            .any(|v| v.strip_prefix("GIT_AGENT_ROOT=") == Some(&root))
}
