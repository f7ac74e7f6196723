//! Processes on this machine, through sysinfo (Linux and macOS alike): which run inside a
//! directory (a slot, the main worktree), what they are (an agent CLI, a dev server), which
//! TCP ports they listen on, whether they are using the CPU; and stopping them.
//!
//! One pass over the process table per call: [`Scanner::scan`] reads every process's working
//! directory and CPU time, and only the few found inside a root are read further (command
//! line, owner, sockets). Processes of other users are never a root's. Where the platform
//! gives no answer, the answer is `None` ("unknown"), never an error.

mod names;
mod sockets;
mod stop;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

pub use sockets::listening_ports;
pub use stop::{clear_slot, stop};

/// How long a one-off command samples CPU time to tell busy from idle: long enough that a
/// process using a tenth of a core shows (Linux counts CPU time in 10 ms ticks).
pub const SAMPLE: Duration = Duration::from_millis(100);

/// A process inside a root.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    pub pid: u32,
    pub parent: Option<u32>,
    /// What to call it: the program, or for an interpreter the script or module it runs.
    pub name: String,
    /// The whole command line.
    pub command: String,
    pub cwd: PathBuf,
    /// When it started, in seconds since the Unix epoch.
    pub started: u64,
    /// The coding-agent CLI it is, when its name is one (`claude`, `codex`, ...).
    pub agent: Option<&'static str>,
    /// An interactive shell (a terminal standing in the directory).
    pub shell: bool,
    /// The TCP ports it listens on; `None` where the platform does not tell.
    pub ports: Option<Vec<u16>>,
    /// Whether it used the CPU over the last sample; `None` until two readings were taken.
    pub busy: Option<bool>,
    /// CPU time used so far, in milliseconds, at the last reading.
    pub cpu_ms: u64,
    /// Running or waiting for a CPU at a reading: busy, however little CPU a loaded machine
    /// gave it.
    pub runnable: bool,
}

impl Proc {
    pub fn age(&self, now: u64) -> u64 {
        now.saturating_sub(self.started)
    }

    /// The command line with the program's directory left out (`python3 -m http.server`).
    pub fn short_command(&self) -> String {
        let (program, rest) = self.command.split_once(' ').unwrap_or((&self.command, ""));
        let program = program.rsplit('/').next().unwrap_or(program);
        if rest.is_empty() {
            program.to_string()
        } else {
            format!("{program} {rest}")
        }
    }

    /// `pid 123 (python3 -m http.server, listening on 3001)`, for messages.
    pub fn describe(&self) -> String {
        let mut text = format!("pid {} ({}", self.pid, shorten(&self.short_command(), 80));
        if let Some(ports) = self.ports.as_ref().filter(|p| !p.is_empty()) {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            text.push_str(&format!(", listening on {}", list.join(",")));
        }
        text.push(')');
        text
    }
}

/// The process table, read once, and kept for the next reading (`ls --watch`).
pub struct Scanner {
    system: System,
    me: u32,
    /// When the CPU times now in `system` were read.
    read_at: Instant,
    /// CPU time of the processes last reported, by (pid, start time), and when it was read.
    last: HashMap<(u32, u64), u64>,
    last_at: Option<Instant>,
}

impl Scanner {
    /// Reads every process's working directory and CPU time.
    pub fn scan() -> Scanner {
        // One-off readers need not keep a file open per process for the next reading.
        let mut scanner = Scanner {
            system: System::new(),
            me: std::process::id(),
            read_at: Instant::now(),
            last: HashMap::new(),
            last_at: None,
        };
        scanner.rescan();
        scanner
    }

    /// Reads the process table again (processes that ended are dropped). Processes only, not
    /// their threads (sysinfo reads every thread as a process unless told not to: four times
    /// the work on a machine with node and browsers).
    pub fn rescan(&mut self) {
        let kind = ProcessRefreshKind::nothing()
            .without_tasks()
            .with_cwd(UpdateKind::Always)
            .with_cpu();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        self.read_at = Instant::now();
    }

    /// How many processes the table holds.
    pub fn count(&self) -> usize {
        self.system.processes().len()
    }

    /// Whether the process table could be read at all.
    pub fn works(&self) -> bool {
        !self.system.processes().is_empty()
    }

    /// The processes of this user whose working directory is inside one of `roots`, grouped
    /// by root (each in the deepest root that holds it), this command left out: this process
    /// and the `git` that runs it as `git agent` (the shell or agent that typed it stays).
    /// `None` when the platform gives no process table.
    pub fn inside(&mut self, roots: &[PathBuf]) -> Option<Vec<Vec<Proc>>> {
        if !self.works() {
            return None;
        }
        let this_command = self.this_command();
        let roots: Vec<PathBuf> = roots
            .iter()
            .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
            .collect();
        let mut found: Vec<(usize, Pid)> = Vec::new();
        for (pid, process) in self.system.processes() {
            if this_command.contains(&pid.as_u32()) || process.thread_kind().is_some() {
                continue;
            }
            let Some(cwd) = process.cwd() else { continue };
            let deepest = roots
                .iter()
                .enumerate()
                .filter(|(_, root)| cwd.starts_with(root))
                .max_by_key(|(_, root)| root.as_os_str().len());
            if let Some((i, _)) = deepest {
                found.push((i, *pid));
            }
        }
        let mut pids: Vec<Pid> = found.iter().map(|(_, p)| *p).collect();
        pids.push(Pid::from_u32(self.me));
        let details = ProcessRefreshKind::nothing()
            .without_tasks()
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet)
            .with_cpu();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&pids), false, details);
        self.read_at = Instant::now();
        let mine = self
            .system
            .process(Pid::from_u32(self.me))
            .and_then(|p| p.user_id().cloned());
        let mut groups: Vec<Vec<Proc>> = vec![Vec::new(); roots.len()];
        for (i, pid) in found {
            let Some(process) = self.system.process(pid) else {
                continue;
            };
            // Another user's process is not this user's slot's, wherever it stands.
            if mine.is_some() && process.user_id() != mine.as_ref() {
                continue;
            }
            groups[i].push(to_proc(process));
        }
        for group in &mut groups {
            group.sort_by_key(|p| (p.started, p.pid));
        }
        let all: Vec<u32> = groups.iter().flatten().map(|p| p.pid).collect();
        let ports = sockets::ports_of(&all);
        for p in groups.iter_mut().flatten() {
            p.ports = ports
                .as_ref()
                .map(|m| m.get(&p.pid).cloned().unwrap_or_default());
        }
        self.mark_busy(&mut groups);
        Some(groups)
    }

    /// Takes a second reading of the CPU time of the processes in `groups`, at least `window`
    /// after the first, and says which used the CPU in between.
    /// This process's ancestors need no sample: they are running this command (an agent at
    /// work, a shell waiting for it), and count as busy.
    pub fn sample(&mut self, groups: &mut [Vec<Proc>], window: Duration) {
        let running_me = self.me_and_ancestors();
        let pids: Vec<Pid> = groups
            .iter()
            .flatten()
            .filter(|p| !running_me.contains(&p.pid))
            .map(|p| Pid::from_u32(p.pid))
            .collect();
        if pids.is_empty() {
            for p in groups.iter_mut().flatten() {
                p.busy = Some(true);
            }
            return;
        }
        if let Some(rest) = window.checked_sub(self.read_at.elapsed()) {
            std::thread::sleep(rest);
        }
        let kind = ProcessRefreshKind::nothing().without_tasks().with_cpu();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&pids), false, kind);
        self.read_at = Instant::now();
        for p in groups.iter_mut().flatten() {
            if let Some(process) = self.system.process(Pid::from_u32(p.pid))
                && process.start_time() == p.started
            {
                p.cpu_ms = process.accumulated_cpu_time();
                p.runnable |= process.status() == ProcessStatus::Run;
            }
        }
        self.mark_busy(groups);
        for p in groups.iter_mut().flatten() {
            if running_me.contains(&p.pid) {
                p.busy = Some(true);
            }
        }
    }

    /// Busy: running or waiting to run at a reading, or at least 1% of a core (and at least
    /// one unit the platform counts) since the last reading of the same process.
    fn mark_busy(&mut self, groups: &mut [Vec<Proc>]) {
        let elapsed = self.last_at.map(|t| self.read_at.duration_since(t));
        for p in groups.iter_mut().flatten() {
            p.busy = match (elapsed, self.last.get(&(p.pid, p.started))) {
                (Some(elapsed), Some(before)) => {
                    let used = p.cpu_ms.saturating_sub(*before);
                    Some(p.runnable || (used > 0 && used as u128 * 100 >= elapsed.as_millis()))
                }
                _ => None,
            };
        }
        self.last = groups
            .iter()
            .flatten()
            .map(|p| ((p.pid, p.started), p.cpu_ms))
            .collect();
        self.last_at = Some(self.read_at);
    }

    /// This process and the `git` processes right above it: `git agent ...` itself.
    fn this_command(&self) -> HashSet<u32> {
        let mut pids = HashSet::from([self.me]);
        let mut at = Pid::from_u32(self.me);
        while let Some(parent) = self.system.process(at).and_then(|p| p.parent())
            && self
                .system
                .process(parent)
                .is_some_and(|p| p.name() == "git")
            && pids.insert(parent.as_u32())
        {
            at = parent;
        }
        pids
    }

    /// This process and the processes it runs under (its shell, the agent that ran it).
    pub fn me_and_ancestors(&self) -> HashSet<u32> {
        let mut seen = HashSet::from([self.me]);
        let mut at = Pid::from_u32(self.me);
        while let Some(parent) = self.system.process(at).and_then(|p| p.parent()) {
            if !seen.insert(parent.as_u32()) {
                break;
            }
            at = parent;
        }
        seen
    }
}

fn to_proc(process: &sysinfo::Process) -> Proc {
    let name = process.name().to_string_lossy().into_owned();
    let cmd: Vec<String> = process
        .cmd()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let display = names::display_name(&name, &cmd);
    let agent = names::agent(&name, &display, &cmd);
    let command = if cmd.is_empty() {
        name.clone()
    } else {
        cmd.join(" ")
    };
    Proc {
        pid: process.pid().as_u32(),
        parent: process.parent().map(|p| p.as_u32()),
        shell: agent.is_none() && names::is_shell(&display),
        name: display,
        command,
        cwd: process.cwd().map(Path::to_path_buf).unwrap_or_default(),
        started: process.start_time(),
        agent,
        ports: None,
        busy: None,
        cpu_ms: process.accumulated_cpu_time(),
        runnable: process.status() == ProcessStatus::Run,
    }
}

/// The processes inside `root` that are still running, without this process and the ones it
/// runs under: what removing or merging a slot would pull the directory out from under. An
/// agent that removes its own slot from inside does not count itself. `None` when the
/// platform gives no process table.
pub fn live_in(root: &Path) -> Option<Vec<Proc>> {
    stop::live_in_each(&[root.to_path_buf()]).map(|mut groups| groups.pop().unwrap_or_default())
}

/// The processes listening on each of `ports`, on the whole machine, with their working
/// directory and environment (for `doctor`: is the slot's port held by the slot's own
/// server?). `None` when the platform does not tell.
pub fn listening_on(ports: &[u16]) -> Option<HashMap<u16, Vec<Listener>>> {
    let mut system = System::new();
    let kind = ProcessRefreshKind::nothing()
        .without_tasks()
        .with_cwd(UpdateKind::Always)
        .with_cmd(UpdateKind::Always)
        .with_environ(UpdateKind::Always);
    system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    let pids: Vec<u32> = system
        .processes()
        .iter()
        .filter(|(_, p)| p.thread_kind().is_none())
        .map(|(pid, _)| pid.as_u32())
        .collect();
    let by_pid = sockets::ports_of(&pids)?;
    let mut found: HashMap<u16, Vec<Listener>> = HashMap::new();
    for (pid, listening) in by_pid {
        let Some(process) = system.process(Pid::from_u32(pid)) else {
            continue;
        };
        for port in listening.into_iter().filter(|p| ports.contains(p)) {
            found.entry(port).or_default().push(Listener {
                pid,
                command: process
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                cwd: process.cwd().map(Path::to_path_buf),
                environ: process
                    .environ()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect(),
            });
        }
    }
    for list in found.values_mut() {
        list.sort_by_key(|l| l.pid);
    }
    Some(found)
}

/// A process listening on a port, as `doctor` needs to know it.
#[derive(Debug, Clone)]
pub struct Listener {
    pub pid: u32,
    pub command: String,
    pub cwd: Option<PathBuf>,
    pub environ: Vec<String>,
}

/// `text` cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}
