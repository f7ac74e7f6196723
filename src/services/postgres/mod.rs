//! Postgres: a database per slot, cloned on the server with `CREATE DATABASE ... TEMPLATE`,
//! through the user's own `psql` and their `PG*` environment, `.pgpass` or `admin_url`.
//!
//! Names reach SQL only as psql variables (`:"db"` quotes an identifier, `:'db'` a literal),
//! so no name is ever pasted into SQL text.

mod server;
mod urls;

use anyhow::{Result, bail};

use super::tools;
use super::{Context, Database, DatabaseConfig};
use server::one_line;
pub use server::{Server, release};
pub use urls::mask;
use urls::{default_url, with_database};

/// Templates at least this big are copied with FILE_COPY (and a reflink clone on PG18+);
/// smaller ones with WAL_LOG, which was as fast or faster and avoids two checkpoints.
const FILE_COPY_ABOVE: i64 = 200 * 1024 * 1024;

/// The `application_name` of git-agent's sessions.
const APP_NAME: &str = "git-agent";

/// The error of a `CREATE DATABASE` that failed because the name exists: not git-agent's
/// database, so nothing may drop it.
#[derive(Debug)]
pub struct Exists(String);

impl std::fmt::Display for Exists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Exists {}

/// What `CREATE DATABASE` will do, worked out before anything is created.
pub struct Plan {
    pub server: Server,
    pub name: String,
    template: Option<String>,
    file_copy: bool,
    clone: bool,
    pub url: String,
}

/// Checks the name, the server and the template, and works out the URL; creates nothing.
pub fn plan(cfg: &DatabaseConfig, ctx: &Context) -> Result<Plan> {
    let mut vars = ctx.vars.clone();
    let name = match &cfg.name {
        Some(text) => vars.render(text, "database.name")?,
        None => vars.value("db").unwrap_or_default().to_string(),
    };
    check_name(&name)?;
    vars.set("db", name.clone());
    let admin_url = cfg
        .admin_url
        .as_ref()
        .map(|u| vars.render(u, "database.admin_url"))
        .transpose()?;
    let template = cfg
        .template
        .as_ref()
        .map(|t| vars.render(t, "database.template"))
        .transpose()?;
    if template.as_deref() == Some("") {
        bail!(
            "database.template is empty; name the database to clone, or remove the key for an empty database"
        );
    }
    let strategy = cfg.strategy.as_deref().unwrap_or("auto");
    if !["auto", "wal_log", "file_copy"].contains(&strategy) {
        bail!("database.strategy = \"{strategy}\" is not one of auto, wal_log, file_copy");
    }
    let mut server = Server {
        admin_url,
        ..Server::default()
    };

    let mut script = String::from(
        "\\echo :HOST\n\\echo :PORT\n\\echo :USER\nselect current_setting('server_version_num');\nselect exists(select 1 from pg_database where datname = :'db');\n",
    );
    let mut psql_vars = vec![("db", name.as_str())];
    if let Some(t) = &template {
        script.push_str("select coalesce((select case when has_database_privilege(oid, 'CONNECT') then pg_database_size(oid) else 0 end from pg_database where datname = :'tpl'), -1);\n");
        psql_vars.push(("tpl", t.as_str()));
    }
    let out = server.run(&script, &psql_vars, &[])?;
    if !out.status.success() {
        return Err(server.unreachable(&tools::stderr(&out)));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() < 5 {
        bail!(
            "unexpected answer from psql at {}: {text:?}",
            server.describe()
        );
    }
    let (host, port, user) = (
        lines[0].to_string(),
        lines[1].to_string(),
        lines[2].to_string(),
    );
    let version: i64 = lines[3].trim().parse().unwrap_or(0);
    if lines[4].trim() == "t" {
        bail!(
            "a database named {name} already exists on {}; git-agent did not create it, so it will neither reuse nor drop it; \
             drop it yourself if it is left over (`dropdb {name}`), or set database.name to another name",
            server.describe()
        );
    }
    let mut file_copy = strategy == "file_copy";
    if let Some(t) = &template {
        let size: i64 = lines
            .get(5)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(-1);
        if size < 0 {
            bail!(
                "the template database '{t}' (database.template) does not exist on {}; create it (for example \
                 `createdb {t}` and load your seed data), or fix database.template in .git-agent.toml",
                server.describe()
            );
        }
        if strategy == "auto" && version >= 180000 && size >= FILE_COPY_ABOVE {
            file_copy = true;
        }
    }
    if version < 150000 {
        file_copy = false;
    }
    if server.admin_url.is_none() {
        server.host = Some(host.clone());
        server.port = Some(port.clone());
        server.user = Some(user.clone());
    }
    let url = match &cfg.url {
        Some(text) => vars.render(text, "database.url")?,
        None => match &server.admin_url {
            Some(admin) => with_database(admin, &name),
            None => default_url(&host, &port, &user, &name),
        },
    };
    Ok(Plan {
        server,
        name,
        template,
        file_copy,
        clone: file_copy && version >= 180000,
        url,
    })
}

impl Plan {
    /// Creates the database. Only a database this call created is returned: a failure
    /// because the name exists never yields a record.
    pub fn create(&self) -> Result<Database> {
        let mut sql = String::from("CREATE DATABASE :\"db\"");
        let mut vars = vec![("db", self.name.as_str())];
        if let Some(t) = &self.template {
            sql.push_str(" TEMPLATE :\"tpl\"");
            vars.push(("tpl", t.as_str()));
        }
        if self.file_copy {
            sql.push_str(" STRATEGY FILE_COPY");
        }
        sql.push_str(";\n");
        let mut env = Vec::new();
        if self.clone {
            // A user-level setting, so it can be set per session; on a reflink filesystem
            // the copy shares blocks with the template instead of writing them.
            let mut options = std::env::var("PGOPTIONS").unwrap_or_default();
            options.push_str(" -c file_copy_method=clone");
            env.push(("PGOPTIONS", options.trim().to_string()));
        }
        let out = self.server.run(&sql, &vars, &env)?;
        let record = self.record();
        if out.status.success() {
            return Ok(record);
        }
        let err = tools::stderr(&out);
        if out.status.code() == Some(2) && !err.contains("ERROR:") {
            return Err(self.server.unreachable(&err));
        }
        let tpl = self.template.as_deref().unwrap_or("template1");
        if err.contains("55006") || err.contains("being accessed by other users") {
            let sessions = err
                .lines()
                .find(|l| l.contains("DETAIL:"))
                .map(|l| format!(" ({})", l.split("DETAIL:").nth(1).unwrap_or("").trim()))
                .unwrap_or_default();
            bail!(
                "could not clone the template database '{tpl}': another session is connected to it{sessions}, and Postgres copies \
                 only a database nobody is using (it waited a few seconds, then gave up). Close what is connected to it (a psql, an \
                 IDE, a running app: `select pid, usename, application_name from pg_stat_activity where datname = '{tpl}'`), \
                 and keep it closed to connections: `psql -d postgres -c 'ALTER DATABASE \"{tpl}\" WITH ALLOW_CONNECTIONS false'`"
            );
        }
        if err.contains("42P04") {
            return Err(Exists(format!(
                "a database named {} already exists on {}; git-agent did not create it and will not drop it; set database.name to another name",
                self.name,
                self.server.describe()
            ))
            .into());
        }
        if err.contains("3D000") {
            bail!(
                "the template database '{tpl}' (database.template) does not exist on {}; create it or fix database.template",
                self.server.describe()
            );
        }
        if err.contains("42501") && err.contains("copy database") {
            bail!(
                "the Postgres role may not copy the template database '{tpl}' on {}: only its owner (or a superuser) may clone a \
                 database that is not marked as a template; mark it (`psql -d postgres -c 'ALTER DATABASE \"{tpl}\" WITH IS_TEMPLATE true'`) \
                 or use its owner in PGUSER or database.admin_url",
                self.server.describe()
            );
        }
        if err.contains("42501") {
            bail!(
                "the Postgres role has no right to create databases on {}: {}; grant it (`ALTER ROLE <you> CREATEDB`) or set database.admin_url to a role that may",
                self.server.describe(),
                one_line(&err)
            );
        }
        bail!(
            "could not create the database {} on {}: {}",
            self.name,
            self.server.describe(),
            one_line(&err)
        )
    }

    pub fn record(&self) -> Database {
        Database::Postgres {
            name: self.name.clone(),
            admin_url: self.server.admin_url.clone(),
            host: self.server.host.clone(),
            port: self.server.port.clone(),
            user: self.server.user.clone(),
        }
    }
}

/// `[a-z0-9_]`, starting with a letter or `_`, at most 63 bytes: Postgres would silently
/// truncate a longer name, and two slots could then share one database.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 63 {
        bail!(
            "the database name '{name}' must be 1 to 63 bytes long (Postgres would silently cut a longer one); shorten database.name, or leave it unset for a safe name"
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        bail!(
            "the database name '{name}' contains '{bad}'; use lower-case letters, digits and '_' (the {{db}} placeholder is always safe)"
        );
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("the database name '{name}' starts with a digit; start it with a letter or '_'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_not_truncated() {
        assert!(check_name("myapp_feature_auth_1a2b3c").is_ok());
        assert!(check_name(&"a".repeat(63)).is_ok());
        assert!(
            check_name(&"a".repeat(64))
                .unwrap_err()
                .to_string()
                .contains("63")
        );
        for bad in ["", "My_app", "a-b", "a b", "1abc", "a;drop"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            default_url("127.0.0.1", "5433", "me", "db_1"),
            "postgresql://me@127.0.0.1:5433/db_1"
        );
        assert_eq!(
            default_url("/tmp/s dir", "5433", "me", "db_1"),
            "postgresql:///db_1?host=/tmp/s%20dir&port=5433&user=me"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1/postgres?sslmode=require", "x"),
            "postgres://u:p@h:1/x?sslmode=require"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(mask("postgresql://u:secret@h/x"), "postgresql://u:***@h/x");
    }
}
