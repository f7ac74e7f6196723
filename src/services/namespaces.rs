//! Names other programs use as namespaces: Redis key prefixes, Compose projects, Postgres
//! databases and Neon branches. Each slot's must be its own among every slot of every
//! repository in the registry: `add` checks the names it is about to use (and records them
//! under the registry's lock, so two `add`s at once cannot both pass), and `rm` checks again
//! before it deletes keys under a prefix.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use super::{Database, Resources};

/// The defaults carry `{id}`, a short hash of the repository and the exact slot name: two
/// clones named `app`, or slots `feature-x`, `Feature-X` and `feature.x`, get names of
/// their own. The `-` before the id keeps a prefix of git-agent 0.1.0 (`app:feature-x:`) from
/// being a prefix of a new one.
pub const DEFAULT_REDIS_PREFIX: &str = "{repo}:{slot}-{id}:";
pub const DEFAULT_COMPOSE_PROJECT: &str = "{repo}-{slot}-{id}";
pub const DEFAULT_NEON_BRANCH: &str = "agent/{repo}/{slot}-{id}";

/// The slot whose names these are: its repository's common dir and its name.
#[derive(Clone, Copy)]
pub struct Owner<'a> {
    pub repo: &'a Path,
    pub name: &'a str,
}

/// The names a slot holds, as its record says.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub redis_prefix: Option<String>,
    pub compose: Option<String>,
    /// A Postgres database: its name and the host and port it lives on.
    pub postgres: Option<(String, Option<String>, Option<String>)>,
    /// A Neon branch: its project and name.
    pub neon: Option<(String, String)>,
}

impl Names {
    pub fn of(resources: &Resources, env: &std::collections::BTreeMap<String, String>) -> Names {
        Names {
            redis_prefix: resources.redis.as_ref().map(|r| r.prefix.clone()),
            // Records written before the project was recorded have it only in the env.
            compose: resources
                .compose
                .clone()
                .or_else(|| env.get("COMPOSE_PROJECT_NAME").cloned()),
            postgres: match &resources.database {
                Some(Database::Postgres {
                    name, host, port, ..
                }) => Some((name.clone(), host.clone(), port.clone())),
                _ => None,
            },
            neon: match &resources.database {
                Some(Database::Neon {
                    project_id, branch, ..
                }) => Some((project_id.clone(), branch.clone())),
                _ => None,
            },
        }
    }
}

/// Another live slot and the names it holds.
pub struct Holder {
    pub name: String,
    pub repo: PathBuf,
    pub root: PathBuf,
    pub names: Names,
}

impl Holder {
    fn describe(&self) -> String {
        format!("slot {} ({})", self.name, self.root.display())
    }
}

/// Every slot in the registry but `owner`, with the names its record holds. Slots whose
/// record cannot be read hold nothing git-agent could check.
pub fn others(registry: &crate::registry::Registry, owner: Owner) -> Vec<Holder> {
    registry
        .slots
        .iter()
        .filter(|e| !(e.repo == owner.repo && e.name == owner.name))
        .filter_map(|e| {
            let slot = crate::slot::load(&e.repo, &e.name).ok()?;
            Some(Holder {
                name: e.name.clone(),
                repo: e.repo.clone(),
                root: e.root.clone(),
                names: Names::of(&slot.resources, &slot.env),
            })
        })
        .collect()
}

/// Whether two key prefixes overlap: `SCAN MATCH a*` finds the keys of `b` when `b` starts
/// with `a`, and the other way round.
pub fn overlaps(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The first other slot whose prefix overlaps `prefix`.
pub fn prefix_holder<'a>(prefix: &str, others: &'a [Holder]) -> Option<(&'a Holder, &'a str)> {
    others.iter().find_map(|h| {
        let theirs = h.names.redis_prefix.as_deref()?;
        overlaps(prefix, theirs).then_some((h, theirs))
    })
}

/// Fails, naming the slot, when one of `ours` is already another slot's.
pub fn check_unique(ours: &Names, others: &[Holder]) -> Result<()> {
    if let Some(prefix) = &ours.redis_prefix
        && let Some((holder, theirs)) = prefix_holder(prefix, others)
    {
        let how = if theirs == prefix {
            "the same prefix".to_string()
        } else {
            let shorter = if theirs.len() < prefix.len() {
                theirs
            } else {
                prefix
            };
            format!("the prefix {theirs}, and SCAN MATCH {shorter}* finds the keys of both")
        };
        bail!(
            "the Redis key prefix {prefix} (redis.prefix) is not this slot's own: {} has {how}; \
             put {{slot}} and {{id}} in redis.prefix (the default is {DEFAULT_REDIS_PREFIX})",
            holder.describe()
        );
    }
    for holder in others {
        if let (Some(a), Some(b)) = (&ours.compose, &holder.names.compose)
            && a == b
        {
            bail!(
                "the Compose project {a} (compose.project) is already used by {}, and `docker compose down -v` in one \
                 slot would remove the other's containers and volumes; put {{slot}} and {{id}} in compose.project \
                 (the default is {DEFAULT_COMPOSE_PROJECT})",
                holder.describe()
            );
        }
        if let (Some(a), Some(b)) = (&ours.postgres, &holder.names.postgres)
            && a == b
        {
            bail!(
                "the Postgres database {} (database.name) is already used by {}; put {{db}} in database.name",
                a.0,
                holder.describe()
            );
        }
        if let (Some(a), Some(b)) = (&ours.neon, &holder.names.neon)
            && a == b
        {
            bail!(
                "the Neon branch {} of project {} (database.name) is already used by {}; put {{slot}} and {{id}} in database.name",
                a.1,
                a.0,
                holder.describe()
            );
        }
    }
    Ok(())
}

/// Why `rm` must not delete the keys under the slot's prefix: another live slot's prefix
/// overlaps it (on a server git-agent deletes keys on).
pub fn redis_conflict(resources: &Resources, owner: Owner) -> Result<Option<String>> {
    let Some(redis) = &resources.redis else {
        return Ok(None);
    };
    if redis.url.is_none() || redis.db.is_some() {
        return Ok(None);
    }
    let registry = crate::registry::load()?;
    let others = others(&registry, owner);
    Ok(
        prefix_holder(&redis.prefix, &others).map(|(holder, theirs)| {
            format!(
                "the Redis keys under {}: {} has the prefix {theirs}, and SCAN MATCH {}* would delete keys \
                 of both; --force removes the slot and leaves those keys",
                redis.prefix,
                holder.describe(),
                redis.prefix
            )
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap_in_either_direction() {
        assert!(overlaps("app:feat:", "app:feat:x:"));
        assert!(overlaps("app:feat:x:", "app:feat:"));
        assert!(overlaps("a:", "a:"));
        assert!(!overlaps("app:feat-1:", "app:feat-2:"));
        assert!(!overlaps("app:feat:", "app:feat-abc123:"));
    }

    fn holder(name: &str, names: Names) -> Holder {
        Holder {
            name: name.into(),
            repo: "/r/.git".into(),
            root: format!("/w/{name}").into(),
            names,
        }
    }

    #[test]
    fn every_kind_of_name_is_checked() {
        let pg = |n: &str, port: &str| {
            Some((n.to_string(), Some("127.0.0.1".into()), Some(port.into())))
        };
        let others = [holder(
            "a",
            Names {
                postgres: pg("app_a", "5432"),
                neon: Some(("p".into(), "agent/a".into())),
                compose: Some("app-a".into()),
                redis_prefix: Some("app:a:".into()),
            },
        )];
        // The same names elsewhere (another server, another project) are not taken.
        let free = Names {
            postgres: pg("app_a", "5433"),
            neon: Some(("q".into(), "agent/a".into())),
            compose: Some("app-b".into()),
            redis_prefix: Some("app:b:".into()),
        };
        assert!(check_unique(&free, &others).is_ok());
        for (names, what) in [
            (
                Names {
                    postgres: pg("app_a", "5432"),
                    ..Names::default()
                },
                "Postgres database app_a",
            ),
            (
                Names {
                    neon: Some(("p".into(), "agent/a".into())),
                    ..Names::default()
                },
                "Neon branch agent/a",
            ),
            (
                Names {
                    compose: Some("app-a".into()),
                    ..Names::default()
                },
                "Compose project app-a",
            ),
            (
                Names {
                    redis_prefix: Some("app:".into()),
                    ..Names::default()
                },
                "SCAN MATCH app:*",
            ),
            (
                Names {
                    redis_prefix: Some("app:a:".into()),
                    ..Names::default()
                },
                "the same prefix",
            ),
        ] {
            let err = check_unique(&names, &others).unwrap_err().to_string();
            assert!(err.contains(what) && err.contains("slot a (/w/a)"), "{err}");
        }
    }
}
