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

pub mod namespaces;
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
    /// The Compose project name the slot was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<String>,
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

/// Creates what the template asks for. The names other programs see (Redis prefix, Compose
/// project, database) are worked out first and checked against every other slot's; then each
/// thing is created, its undo registered on `txn` and `save` called with the record so far (so
/// a killed process leaves a record `prune` can release). Returns the record and the
/// variables to export.
pub fn provision(
    t: &Template,
    ctx: &Context,
    owner: namespaces::Owner,
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
    let mut names = namespaces::Names::default();
    let database = match db.engine {
        Engine::Sqlite => Some(DatabasePlan::Sqlite(sqlite::plan(&db, ctx)?)),
        Engine::Postgres => {
            let plan = postgres::plan(&db, ctx)?;
            names.postgres = Some((
                plan.name.clone(),
                plan.server.host.clone(),
                plan.server.port.clone(),
            ));
            Some(DatabasePlan::Postgres(plan))
        }
        Engine::Neon => {
            let plan = neon::plan(&db, ctx)?;
            names.neon = Some((plan.project_id.clone(), plan.branch.clone()));
            Some(DatabasePlan::Neon(plan))
        }
        Engine::None => None,
    };

    let redis_cfg = t.redis.clone().unwrap_or_default();
    let prefix = ctx.vars.render(
        redis_cfg
            .prefix
            .as_deref()
            .unwrap_or(namespaces::DEFAULT_REDIS_PREFIX),
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
    let server = redis_url.as_deref().map(redis::Server::parse).transpose()?;
    names.redis_prefix = Some(prefix.clone());
    let compose = match &t.compose {
        Some(c) if !c.enabled => None,
        c => {
            let template = c
                .as_ref()
                .and_then(|c| c.project.as_deref())
                .unwrap_or(namespaces::DEFAULT_COMPOSE_PROJECT);
            let name = crate::names::compose_name(&ctx.vars.render(template, "compose.project")?);
            let var = c
                .as_ref()
                .and_then(|c| c.var.clone())
                .unwrap_or_else(|| "COMPOSE_PROJECT_NAME".into());
            Some((var, name))
        }
    };
    names.compose = compose.as_ref().map(|(_, name)| name.clone());
    let mut record = Redis {
        prefix: prefix.clone(),
        url: redis_url.clone(),
        db: None,
    };
    resources.redis = Some(record.clone());
    resources.compose = names.compose.clone();
    {
        // Checked and recorded under the registry's lock: two `add`s at once cannot both
        // take a name.
        let locked = crate::registry::Locked::acquire()?;
        namespaces::check_unique(&names, &namespaces::others(&locked.registry, owner))?;
        save(&resources)?;
    }

    if let Some(plan) = database {
        txn.step("database")?;
        let url = match plan {
            DatabasePlan::Sqlite(plan) => {
                created(&mut resources, plan.create()?, txn, save)?;
                plan.url()
            }
            DatabasePlan::Postgres(plan) => {
                // Named in the record before the clone starts: whatever stops `add`
                // meanwhile, the record covers what the server may go on to create.
                let ours = created(&mut resources, plan.record(), txn, save)?;
                if let Err(e) = plan.create() {
                    if e.downcast_ref::<postgres::Exists>().is_some() {
                        // Someone else's database of that name: never dropped.
                        ours.set(false);
                        resources.database = None;
                        save(&resources)?;
                    }
                    return Err(e);
                }
                plan.url.clone()
            }
            DatabasePlan::Neon(plan) => {
                let (record, url) = plan.create()?;
                created(&mut resources, record, txn, save)?;
                url?
            }
        };
        env.insert(var, url);
    }

    if let (Some(url), Some(server)) = (&redis_url, &server) {
        let url_var = redis_cfg
            .url_var
            .clone()
            .unwrap_or_else(|| "REDIS_URL".into());
        if redis_isolation(&redis_cfg)? {
            txn.step("redis")?;
            let n = claim_redis_db(server, &mut record, &mut resources, save)?;
            let undo = record.clone();
            txn.on_undo(
                format!("emptied Redis database {n} on {}", server.address()),
                move || release_redis(&undo, None).map(|_| ()),
            );
            env.insert(url_var, redis::url_with_db(url, n));
        } else {
            env.insert(url_var, url.clone());
        }
    }
    env.insert(
        redis_cfg
            .prefix_var
            .clone()
            .unwrap_or_else(|| "REDIS_PREFIX".into()),
        prefix,
    );
    if let Some((var, name)) = compose {
        env.insert(var, name);
    }
    Ok((resources, env))
}

enum DatabasePlan {
    Sqlite(sqlite::Plan),
    Postgres(postgres::Plan),
    Neon(neon::Plan),
}

/// Registers the undo of a database (just created, or about to be), then records it. The
/// undo does nothing once the returned flag is cleared.
fn created(
    resources: &mut Resources,
    record: Database,
    txn: &mut Txn,
    save: &mut dyn FnMut(&Resources) -> Result<()>,
) -> Result<std::rc::Rc<std::cell::Cell<bool>>> {
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
    let ours = std::rc::Rc::new(std::cell::Cell::new(true));
    let armed = ours.clone();
    txn.on_undo(what, move || {
        if armed.get() {
            release_database(&undo)
        } else {
            Ok(())
        }
    });
    resources.database = Some(record);
    save(resources)?;
    Ok(ours)
}

/// Whether two Redis addresses name the same server: the loopback names are one machine.
fn same_server(a: &str, b: &str) -> bool {
    let local = |s: &str| {
        let (host, port) = s.rsplit_once(':').unwrap_or((s, ""));
        let host = match host {
            "localhost" | "127.0.0.1" | "[::1]" => "loopback",
            other => other,
        };
        format!("{host}:{port}")
    };
    local(a) == local(b)
}

/// Picks a numbered database no other slot on this server owns and that is empty, and
/// records it, all under the machine-wide lock so concurrent `add`s never pick the same one.
fn claim_redis_db(
    server: &redis::Server,
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
            && redis::Server::parse(other).is_ok_and(|o| same_server(o.address(), server.address()))
        {
            used.insert(*n);
        }
    }
    let mut conn = server.with_db(0).connect(None)?;
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
/// Returns what was released (or left, and why), for the user.
pub fn release(resources: &Resources, owner: namespaces::Owner) -> Result<Vec<String>> {
    let mut done = Vec::new();
    if let Some(db) = &resources.database {
        release_database(db)?;
        done.push(describe_database(db));
    }
    if let Some(redis) = &resources.redis
        && let Some(what) = release_redis(redis, Some(owner))?
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
/// no server recorded there is nothing git-agent could delete. Keys under a prefix another
/// live slot's prefix overlaps are left alone: deleting them would delete that slot's too.
fn release_redis(redis: &Redis, owner: Option<namespaces::Owner>) -> Result<Option<String>> {
    let Some(url) = &redis.url else {
        return Ok(None);
    };
    let server = redis::Server::parse(url)?;
    if let Some(n) = redis.db {
        if n == 0 || n > redis::MAX_DB {
            bail!(
                "the slot record names Redis database {n}; git-agent only ever gives slots 1-{}, so it will not flush it",
                redis::MAX_DB
            );
        }
        let mut conn = server.with_db(n).connect(None)?;
        conn.flush_async()?;
        return Ok(Some(format!("Redis database {n} on {}", conn.address())));
    }
    if let Some(owner) = owner
        && let Some(why) = namespaces::redis_conflict(
            &Resources {
                redis: Some(redis.clone()),
                ..Default::default()
            },
            owner,
        )?
    {
        return Ok(Some(format!("nothing of {why} (on {})", server.address())));
    }
    let mut conn = server.connect(None)?;
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
            compose: Some("r-s-123abc".into()),
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
