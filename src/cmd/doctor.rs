//! `git agent doctor [--json]`: what is wrong with this machine's and this repository's
//! git-agent setup, each finding with the command that fixes it. Checks are cheap: no
//! network call takes more than a couple of seconds, and the process table is read only when
//! a leased port is in use. Exit status 1 when any finding is an error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use crate::cli::Doctor;
use crate::config::Config;
use crate::git::Repo;
use crate::services::{Engine, redis};
use crate::setup::approvals;
use crate::slot::{self, State};
use crate::{output, ports, registry};

/// The oldest git whose worktree commands git-agent relies on (`git worktree remove`).
const MIN_GIT: (u32, u32) = (2, 17);
/// How long a server may take to answer before it counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    Info,
    Warning,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Serialize)]
struct Finding {
    check: &'static str,
    level: Level,
    message: String,
    fix: Option<String>,
    slot: Option<String>,
}

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, check: &'static str, level: Level, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            level,
            message: message.into(),
            fix: None,
            slot: None,
        });
    }

    fn fix(
        &mut self,
        check: &'static str,
        level: Level,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.push(Finding {
            check,
            level,
            message: message.into(),
            fix: Some(fix.into()),
            slot: None,
        });
    }

    fn slot(&mut self, name: &str, level: Level, message: impl Into<String>, fix: Option<String>) {
        self.findings.push(Finding {
            check: "slot",
            level,
            message: message.into(),
            fix,
            slot: Some(name.to_string()),
        });
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

pub fn run(args: &Doctor) -> Result<()> {
    let mut report = Report::default();
    check_git(&mut report);
    check_shell(&mut report);
    let cwd = super::current_dir()?;
    let repo = match Repo::discover(&cwd) {
        Ok(repo) => Some(repo),
        Err(_) => {
            report.add(
                "repository",
                Level::Info,
                format!(
                    "{} is not in a git repository; only machine-wide checks ran",
                    cwd.display()
                ),
            );
            None
        }
    };
    if let Some(repo) = &repo
        && let Some(config) = check_config(&mut report, repo)
    {
        check_tools(&mut report, &config);
        check_approvals(&mut report, repo, &config);
    }
    let registry = match registry::load() {
        Ok(registry) => Some(registry),
        Err(e) => {
            report.fix(
                "registry",
                Level::Error,
                format!("{e:#}"),
                "git agent prune --repair",
            );
            None
        }
    };
    if let Some(repo) = &repo {
        check_slots(&mut report, repo, registry.as_ref());
    }
    if let Some(registry) = &registry {
        check_leases(&mut report, repo.as_ref(), registry);
        check_ports(&mut report, registry);
    }
    let errors = report.count(Level::Error);
    let warnings = report.count(Level::Warning);
    if args.json {
        output::print_json(&json!({
            "version": 1,
            "ok": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "findings": report.findings,
        }))?;
    } else {
        output::print(&text(&report))?;
    }
    match (errors, warnings) {
        (0, 0) => eprintln!("git-agent: no problems found"),
        (e, w) => eprintln!("git-agent: {e} error(s), {w} warning(s)"),
    }
    if errors > 0 {
        return Err(crate::error::SilentExit(1).into());
    }
    Ok(())
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let subject = match &f.slot {
            Some(name) => format!("slot {name}"),
            None => f.check.to_string(),
        };
        out.push_str(&format!(
            "{:<8} {subject}: {}\n",
            f.level.as_str(),
            f.message
        ));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("{:<8}   fix: {fix}\n", ""));
        }
    }
    out
}

fn check_git(report: &mut Report) {
    let out = Command::new("git").arg("--version").output();
    let Ok(out) = out
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    else {
        report.fix(
            "git",
            Level::Error,
            "git is not installed or not on PATH",
            "install git (Debian/Ubuntu: apt install git; macOS: brew install git)",
        );
        return;
    };
    let version = out.trim_start_matches("git version ").to_string();
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if found < MIN_GIT {
        report.fix(
            "git",
            Level::Error,
            format!(
                "git {version} is older than {}.{}, which `git worktree remove` needs",
                MIN_GIT.0, MIN_GIT.1
            ),
            "upgrade git",
        );
    } else {
        report.add("git", Level::Ok, format!("git {version}"));
    }
}

/// The shell that runs us, as the user would name it for `init`.
fn user_shell() -> &'static str {
    let shell = std::env::var("SHELL").unwrap_or_default();
    if shell.ends_with("zsh") {
        "zsh"
    } else if shell.ends_with("fish") {
        "fish"
    } else {
        "bash"
    }
}

fn init_fix(shell: &str) -> String {
    match shell {
        "zsh" => "echo 'eval \"$(git agent init zsh)\"' >> ~/.zshrc, then open a new shell".into(),
        "fish" => "echo 'git agent init fish | source' >> ~/.config/fish/config.fish, then open a new shell".into(),
        _ => "echo 'eval \"$(git agent init bash)\"' >> ~/.bashrc, then open a new shell".into(),
    }
}

fn check_shell(report: &mut Report) {
    let shell = user_shell();
    let Some(directive) = std::env::var_os(crate::shell::DIRECTIVE_VAR).map(PathBuf::from) else {
        report.fix(
            "shell",
            Level::Warning,
            "shell integration is not active in this shell: no env on cd, no cd after add",
            init_fix(shell),
        );
        return;
    };
    // The init script names the file after its shell's pid: the nearest shell above us must be
    // that one, or the variable was only inherited by a shell without the hook.
    let hooked: Option<u32> = directive
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("cd."))
        .and_then(|n| n.parse().ok());
    match (hooked, nearest_shell()) {
        (Some(hooked), Some((pid, name))) if hooked != pid => {
            report.fix(
                "shell",
                Level::Warning,
                format!(
                    "shell integration is active in a parent shell (pid {hooked}) but not in this {name} (pid {pid})"
                ),
                init_fix(&name),
            );
            return;
        }
        _ => report.add(
            "shell",
            Level::Ok,
            "shell integration is active in this shell",
        ),
    }
    // Inside a slot, the hook should have exported its variables.
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    let Ok(registry) = registry::load() else {
        return;
    };
    let Some(entry) = registry
        .slots
        .iter()
        .filter(|e| {
            cwd.starts_with(&e.root)
                || std::fs::canonicalize(&e.root).is_ok_and(|r| cwd.starts_with(r))
        })
        .max_by_key(|e| e.root.as_os_str().len())
    else {
        return;
    };
    let root = std::env::var_os("GIT_AGENT_ROOT").map(PathBuf::from);
    if root.as_deref() != Some(entry.root.as_path()) {
        report.fix(
            "shell",
            Level::Warning,
            format!("this directory is in slot {}, but the shell has not exported its variables", entry.name),
            "cd out of the slot and back in; if that does not help, check that the shell runs the init script",
        );
    }
}

/// The closest ancestor process that is a shell, with its name (Linux: from /proc).
fn nearest_shell() -> Option<(u32, String)> {
    let mut pid = std::process::id();
    for _ in 0..16 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name is in parentheses and may itself hold spaces or parentheses.
        let (_, rest) = stat.rsplit_once(')')?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        if ppid <= 1 {
            return None;
        }
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
        let comm = comm.trim().trim_start_matches('-').to_string();
        if matches!(comm.as_str(), "bash" | "zsh" | "fish" | "sh" | "dash") {
            return Some((ppid, comm));
        }
        pid = ppid;
    }
    None
}

fn check_config(report: &mut Report, repo: &Repo) -> Option<Config> {
    let config = match Config::load(&repo.main_worktree) {
        Ok(config) => config,
        Err(e) => {
            report.fix(
                "template",
                Level::Error,
                format!("{e:#}"),
                "edit the file at the line named (see the README's template section)",
            );
            return None;
        }
    };
    let file = config
        .template_file
        .as_ref()
        .map(|f| f.display().to_string());
    if let Err(e) = super::add::check_template(&config) {
        report.fix(
            "template",
            Level::Error,
            format!("{e:#}"),
            format!(
                "edit {}",
                file.as_deref().unwrap_or(crate::config::TEMPLATE_FILE)
            ),
        );
        return None;
    }
    match &file {
        Some(file) => report.add("template", Level::Ok, format!("{file} parses")),
        None => report.add(
            "template",
            Level::Ok,
            format!(
                "no {} in {}; the defaults apply",
                crate::config::TEMPLATE_FILE,
                repo.main_worktree.display()
            ),
        ),
    }
    Some(config)
}

fn check_tool(report: &mut Report, name: &str, why: &str, install: &str) -> bool {
    match which::which(name) {
        Ok(path) => {
            report.add(
                "tools",
                Level::Ok,
                format!("{name} ({why}) is {}", path.display()),
            );
            true
        }
        Err(_) => {
            report.fix(
                "tools",
                Level::Error,
                format!("{name} ({why}) is not on PATH"),
                install.to_string(),
            );
            false
        }
    }
}

fn check_tools(report: &mut Report, config: &Config) {
    let t = &config.template;
    let db = t.database.clone().unwrap_or_default();
    match db.engine {
        Engine::Sqlite if db.seed.is_some() => {
            check_tool(
                report,
                "sqlite3",
                "database.seed",
                "apt install sqlite3 (Homebrew: brew install sqlite)",
            );
        }
        Engine::Postgres => {
            let psql = check_tool(
                report,
                "psql",
                "database.engine = \"postgres\"",
                "apt install postgresql-client (Homebrew: brew install libpq)",
            );
            if psql {
                check_postgres(report, db.admin_url.as_deref());
            }
        }
        Engine::Neon => {
            check_tool(
                report,
                "neonctl",
                "database.engine = \"neon\"",
                "npm install -g neonctl (Homebrew: brew install neonctl)",
            );
            if std::env::var_os("NEON_API_KEY").is_none_or(|k| k.is_empty()) && !neon_logged_in() {
                report.fix(
                    "tools",
                    Level::Error,
                    "neonctl has no credentials",
                    "export NEON_API_KEY=<an API key from the Neon console>, or run `neonctl auth` once",
                );
            }
        }
        _ => {}
    }
    if let Some(url) = t.redis.as_ref().and_then(|r| r.url.clone()) {
        check_redis(report, &url);
    }
}

fn neon_logged_in() -> bool {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    base.is_some_and(|b| b.join("neonctl").join("credentials.json").exists())
}

/// Whether psql can log in where `add` would create databases (honouring PG* and .pgpass).
fn check_postgres(report: &mut Report, admin_url: Option<&str>) {
    let target = admin_url.unwrap_or("postgres");
    let mut cmd = Command::new("psql");
    cmd.args(["-w", "-X", "-q", "-A", "-t", "-c", "select 1", "-d", target])
        .env("PGCONNECT_TIMEOUT", TIMEOUT.as_secs().to_string())
        .stdin(std::process::Stdio::null());
    let shown = admin_url
        .map(crate::services::postgres::mask)
        .unwrap_or_else(|| "PGHOST/PGPORT/PGUSER or their defaults".into());
    match cmd.output() {
        Ok(out) if out.status.success() => {
            report.add("server", Level::Ok, format!("Postgres at {shown} answers"));
        }
        Ok(out) => report.fix(
            "server",
            Level::Error,
            format!(
                "Postgres at {shown} does not answer: {}",
                String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ")
            ),
            "start the server, or point git-agent at it with PGHOST/PGPORT/PGUSER or database.admin_url (a password goes in ~/.pgpass)",
        ),
        Err(e) => report.add("server", Level::Warning, format!("could not run psql: {e}")),
    }
}

/// Whether a Redis server answers at `url` (a PING, or an authentication demand, counts).
fn check_redis(report: &mut Report, url: &str) {
    if url.contains('{') {
        report.add(
            "server",
            Level::Info,
            format!(
                "redis.url {} depends on the slot; not checked",
                redis::mask(url)
            ),
        );
        return;
    }
    let parsed = match redis::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => {
            report.fix(
                "server",
                Level::Error,
                format!("{e:#}"),
                "fix redis.url in the template",
            );
            return;
        }
    };
    let address = parsed.address();
    match ping(&parsed.target) {
        Ok(()) => report.add("server", Level::Ok, format!("Redis at {address} answers")),
        Err(e) => report.fix(
            "server",
            Level::Error,
            format!("Redis at {address} does not answer: {e}"),
            "start the server (redis-server), or fix redis.url in the template",
        ),
    }
}

fn ping(target: &redis::Target) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Write};
    use std::net::ToSocketAddrs;
    fn exchange<S: std::io::Read + Write>(mut stream: S) -> std::io::Result<()> {
        stream.write_all(b"PING\r\n")?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        if line.starts_with("+PONG")
            || line.starts_with("-NOAUTH")
            || line.starts_with("-WRONGPASS")
        {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "unexpected reply {:?}",
                line.trim()
            )))
        }
    }
    match target {
        redis::Target::Tcp { host, port } => {
            let mut last = std::io::Error::other("no address");
            for addr in (host.as_str(), *port).to_socket_addrs()? {
                match std::net::TcpStream::connect_timeout(&addr, TIMEOUT) {
                    Ok(stream) => {
                        stream.set_read_timeout(Some(TIMEOUT))?;
                        stream.set_write_timeout(Some(TIMEOUT))?;
                        return exchange(stream);
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        redis::Target::Unix(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path)?;
            stream.set_read_timeout(Some(TIMEOUT))?;
            stream.set_write_timeout(Some(TIMEOUT))?;
            exchange(stream)
        }
    }
}

fn check_approvals(report: &mut Report, repo: &Repo, config: &Config) {
    let commands = config
        .template
        .setup
        .as_ref()
        .map(|s| s.run.clone())
        .unwrap_or_default();
    if !config.setup_from_repo || commands.is_empty() {
        return;
    }
    let store = match approvals::load() {
        Ok(store) => store,
        Err(e) => {
            let path = approvals::path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            report.fix(
                "approvals",
                Level::Error,
                format!("{e:#}"),
                format!("rm {path}"),
            );
            return;
        }
    };
    let pending: Vec<&String> = commands
        .iter()
        .filter(|c| !store.is_approved(&repo.common_dir, c))
        .collect();
    if pending.is_empty() {
        report.add(
            "approvals",
            Level::Ok,
            "every [setup] run command is approved",
        );
    } else {
        let list: Vec<&str> = pending.iter().map(|c| c.as_str()).collect();
        report.fix(
            "approvals",
            Level::Warning,
            format!(
                "{} [setup] run command(s) not approved yet (`add` asks on a terminal, fails elsewhere): {}",
                pending.len(),
                list.join("; ")
            ),
            "read them in .git-agent.toml, then run `git agent approve`",
        );
    }
}

fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists() || !Path::new("/proc/self").exists()
}

fn check_slots(report: &mut Report, repo: &Repo, registry: Option<&registry::Registry>) {
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
        let live = s.pid.filter(|p| alive(*p));
        match s.state {
            State::Creating if live.is_none() => report.slot(
                &s.name,
                Level::Error,
                "stuck in `creating`: the `git agent add` that made it was killed",
                Some("git agent prune".into()),
            ),
            State::Removing if live.is_none() => report.slot(
                &s.name,
                Level::Error,
                "stuck in `removing`: the `git agent rm` that removed it was killed",
                Some(format!("git agent rm {}", s.name)),
            ),
            State::Creating | State::Removing => report.slot(
                &s.name,
                Level::Info,
                format!("being {} by pid {}", if s.state == State::Creating { "created" } else { "removed" }, live.unwrap_or(0)),
                None,
            ),
            State::Ready if !s.path.exists() => report.slot(
                &s.name,
                Level::Error,
                format!("its directory {} is gone", s.path.display()),
                Some(
                    "git agent prune (forgets it and releases its ports); if you moved it: git worktree repair <new path>"
                        .to_string(),
                ),
            ),
            State::Ready => {}
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
    }
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

/// Leases whose slot record is gone, in any repository.
fn check_leases(report: &mut Report, repo: Option<&Repo>, registry: &registry::Registry) {
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
fn check_ports(report: &mut Report, registry: &registry::Registry) {
    let busy: Vec<(&registry::Entry, &String, u16)> = registry
        .slots
        .iter()
        .flat_map(|e| e.ports.iter().map(move |(name, port)| (e, name, *port)))
        .filter(|(_, _, port)| ports::listening(*port))
        .collect();
    if busy.is_empty() {
        return;
    }
    let owners = listeners();
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
        let foreign: Vec<&Process> = pids.iter().filter(|p| !p.belongs_to(entry)).collect();
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

#[derive(Debug, Clone)]
struct Process {
    pid: u32,
    command: String,
    cwd: Option<PathBuf>,
    environ: Vec<String>,
}

impl Process {
    /// Started in the slot or by its shell hook/`exec` (which set GIT_AGENT_ROOT/SLOT).
    fn belongs_to(&self, entry: &registry::Entry) -> bool {
        let root = entry.root.to_string_lossy();
        let in_slot = self.cwd.as_ref().is_some_and(|c| {
            c.starts_with(&entry.root)
                || std::fs::canonicalize(&entry.root).is_ok_and(|r| c.starts_with(r))
        });
        in_slot
            || self
                .environ
                .iter()
                .any(|v| v.strip_prefix("GIT_AGENT_ROOT=") == Some(&root))
    }
}

/// The processes listening on each TCP port, from /proc (Linux). `None` elsewhere.
fn listeners() -> Option<HashMap<u16, Vec<Process>>> {
    let mut by_inode: HashMap<u64, u16> = HashMap::new();
    let mut any_table = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        any_table = true;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let Some(port) = fields[1]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            else {
                continue;
            };
            if let Ok(inode) = fields[9].parse::<u64>() {
                by_inode.insert(inode, port);
            }
        }
    }
    if !any_table {
        return None;
    }
    let mut found: BTreeMap<u16, Vec<Process>> = BTreeMap::new();
    let mut seen: HashSet<(u16, u32)> = HashSet::new();
    let procs = std::fs::read_dir("/proc").ok()?;
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(port) = by_inode.get(&inode)
                && seen.insert((*port, pid))
            {
                found.entry(*port).or_default().push(process(pid));
            }
        }
    }
    Some(found.into_iter().collect())
}

fn process(pid: u32) -> Process {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let command = std::fs::read(base.join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let environ = std::fs::read(base.join("environ"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Process {
        pid,
        command,
        cwd: std::fs::read_link(base.join("cwd")).ok(),
        environ,
    }
}
