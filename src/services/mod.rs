//! Data isolation per slot: a database (SQLite, Postgres, Neon or none), a Redis key prefix
//! or numbered database, and a Compose project name. Each engine provisions what a slot
//! needs and returns a record of exactly what it created; release works from that record
//! only, so git-agent can never drop something it did not create.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::config::Template;
use crate::template::Vars;
use crate::txn::Txn;

pub mod neon;
pub mod postgres;
pub mod redis;
pub mod sqlite;
mod tools;

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
    /// neon: the branch name (default `agent/{repo}/{slot}`).
    pub name: Option<String>,
    /// postgres: the URL the slot gets (`{db}` is the database name).
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
    /// The variable that holds the database's URL, when not `DATABASE_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_var: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<Redis>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "engine", rename_all = "lowercase")]
pub enum Database {
    Sqlite {
        path: PathBuf,
    },
    /// A database on a server, with how that server was reached when it was created.
    Postgres {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    Neon {
        project_id: String,
        branch_id: String,
        branch: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Redis {
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The numbered database the slot owns (`isolation = "db"`), flushed on release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<u32>,
}

/// What the engines need to know about the slot being made.
pub struct Context<'a> {
    pub vars: &'a Vars,
    pub slot_path: &'a Path,
    pub main_worktree: &'a Path,
}

fn database_var(t: &Template) -> String {
    t.database
        .as_ref()
        .and_then(|d| d.var.clone())
        .unwrap_or_else(|| "DATABASE_URL".into())
}

fn redis_isolation(r: &RedisConfig) -> Result<bool> {
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
            ("url", set(&db.url), &[Engine::Postgres]),
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

/// Creates what the template asks for. After each thing is created, its undo is registered
/// on `txn` and `save` is called with the record so far (so a killed process leaves a record
/// `prune` can release). Returns the record and the variables to export.
pub fn provision(
    t: &Template,
    ctx: &Context,
    txn: &mut Txn,
    save: &mut dyn FnMut(&Resources) -> Result<()>,
) -> Result<(Resources, BTreeMap<String, String>)> {
    check(t)?;
    let mut resources = Resources::default();
    let mut env = BTreeMap::new();
    let db = t.database.clone().unwrap_or_default();
    let var = database_var(t);
    if var != "DATABASE_URL" {
        resources.database_var = Some(var.clone());
    }
    let url = match db.engine {
        Engine::Sqlite => {
            let plan = sqlite::plan(&db, ctx)?;
            txn.step("database")?;
            let record = plan.create()?;
            created(&mut resources, record, txn, save)?;
            Some(plan.url())
        }
        Engine::Postgres => {
            let plan = postgres::plan(&db, ctx)?;
            txn.step("database")?;
            let record = plan.create()?;
            created(&mut resources, record, txn, save)?;
            Some(plan.url.clone())
        }
        Engine::Neon => {
            let plan = neon::plan(&db, ctx)?;
            txn.step("database")?;
            let (record, url) = plan.create()?;
            created(&mut resources, record, txn, save)?;
            Some(url?)
        }
        Engine::None => None,
    };
    if let Some(url) = url {
        env.insert(var, url);
    }

    let redis_cfg = t.redis.clone().unwrap_or_default();
    let prefix = ctx.vars.render(
        redis_cfg.prefix.as_deref().unwrap_or("{repo}:{slot}:"),
        "redis.prefix",
    )?;
    if prefix.is_empty() {
        bail!("redis.prefix renders to an empty string; a slot's prefix must not be empty");
    }
    let redis_url = redis_cfg
        .url
        .as_ref()
        .map(|u| ctx.vars.render(u, "redis.url"))
        .transpose()?;
    let mut record = Redis {
        prefix: prefix.clone(),
        url: redis_url.clone(),
        db: None,
    };
    if let Some(url) = &redis_url {
        let parsed = redis::Url::parse(url)?;
        if redis_isolation(&redis_cfg)? {
            txn.step("redis")?;
            let n = claim_redis_db(&parsed, &mut record, &mut resources, save)?;
            let undo = record.clone();
            txn.on_undo(
                format!("emptied Redis database {n} on {}", parsed.address()),
                move || release_redis(&undo).map(|_| ()),
            );
            env.insert(
                redis_cfg
                    .url_var
                    .clone()
                    .unwrap_or_else(|| "REDIS_URL".into()),
                redis::url_with_db(url, n),
            );
        } else {
            env.insert(
                redis_cfg
                    .url_var
                    .clone()
                    .unwrap_or_else(|| "REDIS_URL".into()),
                url.clone(),
            );
        }
    }
    resources.redis = Some(record);
    env.insert(
        redis_cfg
            .prefix_var
            .clone()
            .unwrap_or_else(|| "REDIS_PREFIX".into()),
        prefix,
    );

    if t.compose.as_ref().is_none_or(|c| c.enabled) {
        let compose = t.compose.clone().unwrap_or(ComposeConfig {
            enabled: true,
            project: None,
            var: None,
        });
        let name = ctx.vars.render(
            compose.project.as_deref().unwrap_or("{repo}-{slot}"),
            "compose.project",
        )?;
        env.insert(
            compose.var.unwrap_or_else(|| "COMPOSE_PROJECT_NAME".into()),
            crate::names::compose_name(&name),
        );
    }
    Ok((resources, env))
}

/// Registers the undo of a database just created, then records it.
fn created(
    resources: &mut Resources,
    record: Database,
    txn: &mut Txn,
    save: &mut dyn FnMut(&Resources) -> Result<()>,
) -> Result<()> {
    let undo = record.clone();
    let what = match &record {
        Database::Sqlite { path } => {
            format!("removed the slot's SQLite database {}", path.display())
        }
        Database::Postgres { name, .. } => format!("dropped the Postgres database {name}"),
        Database::Neon {
            branch, branch_id, ..
        } => format!("deleted the Neon branch {branch} ({branch_id})"),
    };
    txn.on_undo(what, move || release_database(&undo));
    resources.database = Some(record);
    save(resources)
}

/// Picks a numbered database no other slot on this server owns and that is empty, and
/// records it, all under the machine-wide lock so concurrent `add`s never pick the same one.
fn claim_redis_db(
    url: &redis::Url,
    record: &mut Redis,
    resources: &mut Resources,
    save: &mut dyn FnMut(&Resources) -> Result<()>,
) -> Result<u32> {
    let locked = crate::registry::Locked::acquire()?;
    let mut used = std::collections::BTreeSet::new();
    for entry in &locked.registry.slots {
        let Ok(slot) = crate::slot::load(&entry.repo, &entry.name) else {
            continue;
        };
        if let Some(Redis {
            url: Some(other),
            db: Some(n),
            ..
        }) = &slot.resources.redis
            && redis::Url::parse(other).is_ok_and(|o| o.address() == url.address())
        {
            used.insert(*n);
        }
    }
    let mut conn = redis::Conn::open(&redis::Url {
        db: 0,
        ..url.clone()
    })?;
    let mut chosen = None;
    for n in 1..=redis::MAX_DB {
        if used.contains(&n) {
            continue;
        }
        if conn.select(n).is_err() {
            break; // the server has fewer databases
        }
        if conn.dbsize()? == 0 {
            chosen = Some(n);
            break;
        }
    }
    let Some(n) = chosen else {
        bail!(
            "no free Redis database on {}: 1-{} are owned by other slots or hold keys; remove a slot, or use \
             redis.isolation = \"prefix\" (keys under a prefix per slot, no limit)",
            conn.address(),
            redis::MAX_DB
        );
    };
    record.db = Some(n);
    resources.redis = Some(record.clone());
    save(resources)?;
    drop(locked);
    Ok(n)
}

/// Releases what a record says was created. Idempotent: releasing twice is not an error.
/// Returns what was released, for the user.
pub fn release(resources: &Resources) -> Result<Vec<String>> {
    let mut done = Vec::new();
    if let Some(db) = &resources.database {
        release_database(db)?;
        done.push(describe_database(db));
    }
    if let Some(redis) = &resources.redis
        && let Some(what) = release_redis(redis)?
    {
        done.push(what);
    }
    Ok(done)
}

fn release_database(db: &Database) -> Result<()> {
    match db {
        Database::Sqlite { path } => sqlite::release(path),
        Database::Postgres {
            name,
            admin_url,
            host,
            port,
            user,
        } => {
            let server = postgres::Server {
                admin_url: admin_url.clone(),
                host: host.clone(),
                port: port.clone(),
                user: user.clone(),
            };
            postgres::release(&server, name)
        }
        Database::Neon {
            project_id,
            branch_id,
            ..
        } => neon::release(project_id, branch_id),
    }
}

/// Deletes the slot's keys (or empties its numbered database) on the recorded server; with
/// no server recorded there is nothing git-agent could delete.
fn release_redis(redis: &Redis) -> Result<Option<String>> {
    let Some(url) = &redis.url else {
        return Ok(None);
    };
    let parsed = redis::Url::parse(url)?;
    if let Some(n) = redis.db {
        if n == 0 || n > redis::MAX_DB {
            bail!(
                "the slot record names Redis database {n}; git-agent only ever gives slots 1-{}, so it will not flush it",
                redis::MAX_DB
            );
        }
        let mut conn = redis::Conn::open(&redis::Url { db: n, ..parsed })?;
        conn.call(&[b"FLUSHDB", b"ASYNC"])?;
        return Ok(Some(format!("Redis database {n} on {}", conn.address())));
    }
    let mut conn = redis::Conn::open(&parsed)?;
    let count = conn.delete_prefix(&redis.prefix)?;
    Ok(Some(format!(
        "{count} Redis key(s) under {} on {}",
        redis.prefix,
        conn.address()
    )))
}

/// A short description for `ls`.
pub fn describe_database(db: &Database) -> String {
    match db {
        Database::Sqlite { path } => format!("sqlite:{}", path.display()),
        Database::Postgres { name, .. } => format!("postgres:{name}"),
        Database::Neon { branch, .. } => format!("neon:{branch}"),
    }
}

/// Everything a record says was created, with where it lives, for a user who must release it
/// by hand (`rm --force` when a server is gone).
pub fn describe_resources(resources: &Resources) -> String {
    let mut parts = Vec::new();
    match &resources.database {
        Some(Database::Postgres { name, host, port, .. }) => parts.push(format!(
            "Postgres database {name} on {}:{} (DROP DATABASE \"{name}\" WITH (FORCE))",
            host.as_deref().unwrap_or("the default host"),
            port.as_deref().unwrap_or("5432")
        )),
        Some(Database::Neon { project_id, branch_id, branch }) => parts.push(format!(
            "Neon branch {branch} ({branch_id}) of project {project_id} (neonctl branches delete {branch_id} --project-id {project_id})"
        )),
        Some(db) => parts.push(describe_database(db)),
        None => {}
    }
    if let Some(redis) = &resources.redis
        && let Some(url) = &redis.url
    {
        parts.push(match redis.db {
            Some(n) => format!("Redis database {n} at {url}"),
            None => format!("Redis keys {}* at {url}", redis.prefix),
        });
    }
    if parts.is_empty() {
        "nothing".into()
    } else {
        parts.join("; ")
    }
}

/// The database URL the slot was given, from its variables.
pub fn database_url(resources: &Resources, env: &BTreeMap<String, String>) -> Option<String> {
    resources.database.as_ref()?;
    env.get(resources.database_var.as_deref().unwrap_or("DATABASE_URL"))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_records_still_read() {
        let old: Resources = toml::from_str(
            "[database]\nengine = \"sqlite\"\npath = \"/w/s/.git-agent/db.sqlite3\"\n",
        )
        .unwrap();
        assert_eq!(
            old.database,
            Some(Database::Sqlite {
                path: "/w/s/.git-agent/db.sqlite3".into()
            })
        );
        let pg = Resources {
            database: Some(Database::Postgres {
                name: "a_1".into(),
                admin_url: None,
                host: Some("/tmp".into()),
                port: Some("5432".into()),
                user: None,
            }),
            database_var: None,
            redis: Some(Redis {
                prefix: "r:s:".into(),
                url: Some("redis://h:1/0".into()),
                db: Some(3),
            }),
        };
        let text = toml::to_string(&pg).unwrap();
        assert_eq!(toml::from_str::<Resources>(&text).unwrap(), pg, "{text}");
    }

    #[test]
    fn keys_of_other_engines_are_refused() {
        let t = crate::config::parse_template(
            "[database]\nengine = 'postgres'\nseed = 'x'\n",
            Path::new("t"),
        )
        .unwrap();
        assert!(
            check(&t)
                .unwrap_err()
                .to_string()
                .contains("database.seed applies to engine = \"sqlite\"")
        );
        let t =
            crate::config::parse_template("[redis]\nisolation = 'db'\n", Path::new("t")).unwrap();
        assert!(
            check(&t)
                .unwrap_err()
                .to_string()
                .contains("needs redis.url")
        );
        let t = crate::config::parse_template("[database]\nvar = 'LD_PRELOAD'\n", Path::new("t"))
            .unwrap();
        assert!(check(&t).is_err());
    }
}
