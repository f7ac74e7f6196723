//! What the repository's template asks for: that it parses, the tools it needs, the Postgres
//! and Redis servers it talks to, and whether its `[setup]` run commands are approved.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::report::{Level, Report};
use crate::config::Config;
use crate::git::Repo;
use crate::services::{Engine, redis};
use crate::setup::approvals;

/// How long a server may take to answer before it counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(2);

pub(super) fn check_config(report: &mut Report, repo: &Repo) -> Option<Config> {
    let config = match Config::load_for(repo) {
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
    if let Err(e) = crate::provision::check_template(&config) {
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

pub(super) fn check_tools(report: &mut Report, config: &Config) {
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
    let server = match redis::Server::parse(url) {
        Ok(server) => server,
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
    let address = server.address().to_string();
    match server.connect(Some(TIMEOUT)).and_then(|mut c| c.ping()) {
        Ok(()) => report.add("server", Level::Ok, format!("Redis at {address} answers")),
        Err(e) => report.fix(
            "server",
            Level::Error,
            format!("{e:#}"),
            "start the server (redis-server), or fix redis.url in the template (with the user and password, if it needs them)",
        ),
    }
}

pub(super) fn check_approvals(report: &mut Report, repo: &Repo, config: &Config) {
    let commands = config.repo_commands();
    if commands.is_empty() {
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
    let pending = store.pending(&repo.common_dir, &commands);
    if pending.is_empty() {
        report.add(
            "approvals",
            Level::Ok,
            "every [setup] run and [merge] command is approved",
        );
    } else {
        let list: Vec<&str> = pending.iter().map(|c| c.as_str()).collect();
        report.fix(
            "approvals",
            Level::Warning,
            format!(
                "{} [setup] run or [merge] command(s) not approved yet (`add` and `merge` ask on a terminal, fail elsewhere): {}",
                pending.len(),
                list.join("; ")
            ),
            "read them in .git-agent.toml, then run `git agent approve`",
        );
    }
}
