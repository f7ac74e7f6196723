//! Data isolation per slot: a database (SQLite, Postgres, Neon or none), a Redis key prefix
//! and a Compose project name. Each engine provisions what a slot needs and returns a record
//! of exactly what it created; release works from that record only, so git-agent can never
//! drop something it did not create.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::Template;
use crate::template::Vars;
use crate::txn::Txn;

pub mod sqlite;

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Sqlite,
    Postgres,
    Neon,
    None,
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
    /// postgres: the database name (default `{repo}_{slot}` made safe, with a hash).
    pub name: Option<String>,
    /// postgres: the URL the slot gets (`{db}` is the database name).
    pub url: Option<String>,
    /// postgres: where to connect to create and drop databases.
    pub admin_url: Option<String>,
    /// neon: the project id.
    pub project_id: Option<String>,
    /// neon: the parent branch.
    pub parent: Option<String>,
}

/// `[redis]` in the template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// The key prefix (default `{repo}:{slot}:`).
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
    /// The project name (default `{repo}-{slot}`, made safe for Compose).
    pub project: Option<String>,
    pub var: Option<String>,
}

fn yes() -> bool {
    true
}

/// What was created for a slot, as recorded in its slot record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Database>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<Redis>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum Database {
    Sqlite { path: PathBuf },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Redis {
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What the engines need to know about the slot being made.
pub struct Context<'a> {
    pub vars: &'a Vars,
    pub slot_path: &'a Path,
    pub main_worktree: &'a Path,
}

fn database_var(t: &Template) -> String {
    t.database.as_ref().and_then(|d| d.var.clone()).unwrap_or_else(|| "DATABASE_URL".into())
}

/// The names of the variables the services will produce, known before anything is created
/// (so a template naming an unknown placeholder fails before the first step).
pub fn var_names(t: &Template) -> Vec<String> {
    let mut names = Vec::new();
    if t.database.as_ref().is_none_or(|d| d.engine != Engine::None) {
        names.push(database_var(t));
    }
    let redis = t.redis.clone().unwrap_or_default();
    names.push(redis.prefix_var.unwrap_or_else(|| "REDIS_PREFIX".into()));
    if redis.url.is_some() {
        names.push(redis.url_var.unwrap_or_else(|| "REDIS_URL".into()));
    }
    if t.compose.as_ref().is_none_or(|c| c.enabled) {
        names.push(t.compose.as_ref().and_then(|c| c.var.clone()).unwrap_or_else(|| "COMPOSE_PROJECT_NAME".into()));
    }
    names
}

/// Creates what the template asks for. After each thing is created, `save` is called with the
/// record so far (so a killed process leaves a record `prune` can release), and its undo is
/// registered on `txn`. Returns the record and the variables to export.
pub fn provision(
    t: &Template,
    ctx: &Context,
    txn: &mut Txn,
    save: &mut dyn FnMut(&Resources) -> Result<()>,
) -> Result<(Resources, BTreeMap<String, String>)> {
    let mut resources = Resources::default();
    let mut env = BTreeMap::new();
    let db = t.database.clone().unwrap_or_default();
    match db.engine {
        Engine::Sqlite => {
            txn.step("database")?;
            let (record, url) = sqlite::provision(&db, ctx)?;
            resources.database = Some(record.clone());
            save(&resources)?;
            txn.on_undo(format!("removed the slot's SQLite database {}", url), move || release_database(&record));
            env.insert(database_var(t), url);
        }
        Engine::Postgres | Engine::Neon => bail!("the {:?} engine is not available yet", db.engine),
        Engine::None => {}
    }
    let redis = t.redis.clone().unwrap_or_default();
    let prefix = ctx.vars.render(redis.prefix.as_deref().unwrap_or("{repo}:{slot}:"), "redis.prefix")?;
    if prefix.is_empty() {
        bail!("redis.prefix renders to an empty string; a slot's prefix must not be empty");
    }
    env.insert(redis.prefix_var.clone().unwrap_or_else(|| "REDIS_PREFIX".into()), prefix);
    if t.compose.as_ref().is_none_or(|c| c.enabled) {
        let compose = t.compose.clone().unwrap_or(ComposeConfig { enabled: true, project: None, var: None });
        let name = ctx.vars.render(compose.project.as_deref().unwrap_or("{repo}-{slot}"), "compose.project")?;
        env.insert(compose.var.unwrap_or_else(|| "COMPOSE_PROJECT_NAME".into()), crate::names::compose_name(&name));
    }
    Ok((resources, env))
}

/// Releases what a record says was created. Idempotent: releasing twice is not an error.
pub fn release(resources: &Resources) -> Result<Vec<String>> {
    let mut done = Vec::new();
    if let Some(db) = &resources.database {
        release_database(db)?;
        done.push(describe_database(db));
    }
    Ok(done)
}

fn release_database(db: &Database) -> Result<()> {
    match db {
        Database::Sqlite { path } => sqlite::release(path),
    }
}

/// A short description for `ls`.
pub fn describe_database(db: &Database) -> String {
    match db {
        Database::Sqlite { path } => format!("sqlite:{}", path.display()),
    }
}
