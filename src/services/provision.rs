//! Provisioning a slot's data services: its database (cloned, created or copied), its Redis
//! prefix or numbered database, and its Compose project name, each recorded before it is
//! made and undone by the transaction if `add` fails.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::release::{release_database, release_redis};
use super::settings::{database_var, redis_isolation};
use super::*;
use crate::config::Template;
use crate::txn::Txn;

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
