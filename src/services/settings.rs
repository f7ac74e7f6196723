//! What the template's `[database]`, `[redis]` and `[compose]` tables say, the variables they
//! will produce, and the check that rejects keys that do not apply, before anything is made.

use anyhow::{Result, bail};
use serde::Deserialize;

use crate::config::Template;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Sqlite,
    Postgres,
    Neon,
    None,
}

impl Engine {
    fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Neon => "neon",
            Engine::None => "none",
        }
    }
}

/// `[database]` in the template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(default)]
    pub engine: Engine,
    /// The variable that receives the URL (default `DATABASE_URL`).
    pub var: Option<String>,
    /// sqlite: the file inside the slot (default `.git-agent/db.sqlite3`).
    pub path: Option<String>,
    /// sqlite: a database file (relative to the main worktree) the slot starts as a copy of.
    pub seed: Option<String>,
    /// postgres: the database cloned with `CREATE DATABASE ... TEMPLATE`.
    pub template: Option<String>,
    /// postgres: the database name (default `{db}`: repo and slot made safe, with a hash);
    /// neon: the branch name (default `agent/{repo}/{slot}-{id}`).
    pub name: Option<String>,
    /// The URL the slot gets: postgres, `{db}` is the database name; sqlite, `{db_file}` is
    /// the database file's absolute path (default `sqlite:///{db_file}`).
    pub url: Option<String>,
    /// postgres: where to connect to create and drop databases.
    pub admin_url: Option<String>,
    /// postgres: `auto` (default), `wal_log` or `file_copy`.
    pub strategy: Option<String>,
    /// neon: the project id.
    pub project_id: Option<String>,
    /// neon: the parent branch.
    pub parent: Option<String>,
}

/// `[redis]` in the template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// The key prefix (default `{repo}:{slot}-{id}:`).
    pub prefix: Option<String>,
    /// The server; with it set, `REDIS_URL` is exported and `rm` deletes the slot's keys.
    pub url: Option<String>,
    /// `prefix` (default) or `db` (a numbered database 1-15 per slot).
    pub isolation: Option<String>,
    /// The variable names (default `REDIS_PREFIX`, `REDIS_URL`).
    pub prefix_var: Option<String>,
    pub url_var: Option<String>,
}

/// `[compose]` in the template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The project name (default `{repo}-{slot}-{id}`, made safe for Compose).
    pub project: Option<String>,
    pub var: Option<String>,
}

fn yes() -> bool {
    true
}

pub(super) fn database_var(t: &Template) -> String {
    t.database
        .as_ref()
        .and_then(|d| d.var.clone())
        .unwrap_or_else(|| "DATABASE_URL".into())
}

pub(super) fn redis_isolation(r: &RedisConfig) -> Result<bool> {
    match r.isolation.as_deref() {
        None | Some("prefix") => Ok(false),
        Some("db") => Ok(true),
        Some(other) => bail!("redis.isolation = \"{other}\" is not one of prefix, db"),
    }
}

/// The names of the variables the services will produce, known before anything is created
/// (so a template naming an unknown placeholder fails before the first step).
pub fn var_names(t: &Template) -> Vec<String> {
    let mut names = Vec::new();
    if t.database.as_ref().is_none_or(|d| d.engine != Engine::None) {
        names.push(database_var(t));
    }
    let redis = t.redis.clone().unwrap_or_default();
    names.push(
        redis
            .prefix_var
            .clone()
            .unwrap_or_else(|| "REDIS_PREFIX".into()),
    );
    if redis.url.is_some() {
        names.push(redis.url_var.unwrap_or_else(|| "REDIS_URL".into()));
    }
    if t.compose.as_ref().is_none_or(|c| c.enabled) {
        names.push(
            t.compose
                .as_ref()
                .and_then(|c| c.var.clone())
                .unwrap_or_else(|| "COMPOSE_PROJECT_NAME".into()),
        );
    }
    names
}

/// Rejects keys that do not apply to the chosen engine and variable names that could not be
/// exported, before anything is created.
pub fn check(t: &Template) -> Result<()> {
    if let Some(db) = &t.database {
        let set = |v: &Option<String>| v.is_some();
        let keys: [(&str, bool, &[Engine]); 8] = [
            ("path", set(&db.path), &[Engine::Sqlite]),
            ("seed", set(&db.seed), &[Engine::Sqlite]),
            ("template", set(&db.template), &[Engine::Postgres]),
            ("url", set(&db.url), &[Engine::Postgres, Engine::Sqlite]),
            ("admin_url", set(&db.admin_url), &[Engine::Postgres]),
            ("strategy", set(&db.strategy), &[Engine::Postgres]),
            ("project_id", set(&db.project_id), &[Engine::Neon]),
            ("parent", set(&db.parent), &[Engine::Neon]),
        ];
        for (key, is_set, engines) in keys {
            if is_set && !engines.contains(&db.engine) {
                let wanted: Vec<&str> = engines.iter().map(|e| e.as_str()).collect();
                bail!(
                    "database.{key} applies to engine = \"{}\" only, and this template has engine = \"{}\"",
                    wanted.join("\", \""),
                    db.engine.as_str()
                );
            }
        }
        if db.name.is_some() && !matches!(db.engine, Engine::Postgres | Engine::Neon) {
            bail!("database.name applies to the postgres and neon engines only");
        }
    }
    let names = [
        (
            "database.var",
            t.database.as_ref().and_then(|d| d.var.clone()),
        ),
        (
            "redis.prefix_var",
            t.redis.as_ref().and_then(|r| r.prefix_var.clone()),
        ),
        (
            "redis.url_var",
            t.redis.as_ref().and_then(|r| r.url_var.clone()),
        ),
        (
            "compose.var",
            t.compose.as_ref().and_then(|c| c.var.clone()),
        ),
    ];
    for (key, name) in names {
        if let Some(name) = name
            && (!crate::envfile::valid_name(&name) || crate::envfile::dangerous_name(&name))
        {
            bail!(
                "{key} = \"{name}\" is not a variable name git-agent will export; use letters, digits and '_' (not PATH, LD_*, ...)"
            );
        }
    }
    if let Some(r) = &t.redis
        && redis_isolation(r)?
        && r.url.is_none()
    {
        bail!(
            "redis.isolation = \"db\" needs redis.url, the server whose numbered databases the slots share"
        );
    }
    Ok(())
}
