//! Releasing a slot's data services from its record alone: only what git-agent recorded as
//! its own is dropped.

use anyhow::{Result, bail};

use super::*;

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

pub(super) fn release_database(db: &Database) -> Result<()> {
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
pub(super) fn release_redis(
    redis: &Redis,
    owner: Option<namespaces::Owner>,
) -> Result<Option<String>> {
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
