//! Data isolation per slot: a database (SQLite, Postgres, Neon or none), a Redis key prefix
//! or numbered database, and a Compose project name. Each engine provisions what a slot
//! needs and returns a record of exactly what it created; release works from that record
//! only, so git-agent can never drop something it did not create.

pub mod namespaces;
pub mod neon;
pub mod postgres;
mod provision;
pub mod redis;
mod release;
mod settings;
pub mod sqlite;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::template::Vars;
pub use provision::provision;
pub use release::release;
pub use settings::{ComposeConfig, DatabaseConfig, Engine, RedisConfig, check, var_names};

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
