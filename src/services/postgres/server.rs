//! The Postgres server a slot's database lives on: reached through the user's own `psql`,
//! with `admin_url` or the `PG*` environment pinned; and dropping a slot's database there,
//! stopping first any clone a killed `add` left running.

use std::process::Command;

use anyhow::{Result, bail};

use super::urls::mask;
use super::{APP_NAME, check_name};
use crate::services::tools::{self, PSQL};

/// How to reach the server: the `admin_url`, or the `PG*` environment pinned to the host,
/// port and user psql actually used, so `rm` later talks to the same server.
#[derive(Debug, Clone, Default)]
pub struct Server {
    pub admin_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub user: Option<String>,
}

impl Server {
    pub(super) fn psql(&self, vars: &[(&str, &str)]) -> Result<Command> {
        let mut cmd = PSQL.command()?;
        // -w: never prompt for a password (nobody may be there to type it); a missing one is
        // an error naming .pgpass, PGPASSWORD and admin_url.
        cmd.args([
            "-w",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
        ]);
        for (name, value) in vars {
            cmd.arg("-v").arg(format!("{name}={value}"));
        }
        // The maintenance database, never the template: a session there would block cloning.
        cmd.arg("-d")
            .arg(self.admin_url.as_deref().unwrap_or("postgres"));
        for (var, value) in [
            ("PGHOST", &self.host),
            ("PGPORT", &self.port),
            ("PGUSER", &self.user),
        ] {
            if let Some(value) = value {
                cmd.env(var, value);
            }
        }
        // How `release` finds a clone a killed `add` left running on the server.
        cmd.env("PGAPPNAME", APP_NAME);
        if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            cmd.env("PGCONNECT_TIMEOUT", "10");
        }
        Ok(cmd)
    }

    /// Where we connect, for messages (never a password).
    pub fn describe(&self) -> String {
        if let Some(url) = &self.admin_url {
            return format!("{} (database.admin_url)", mask(url));
        }
        let env =
            |name: &str, field: &Option<String>| field.clone().or_else(|| std::env::var(name).ok());
        let host = env("PGHOST", &self.host).unwrap_or_else(|| "the default socket".into());
        let port = env("PGPORT", &self.port).unwrap_or_else(|| "5432".into());
        let user = env("PGUSER", &self.user)
            .map(|u| format!(" as {u}"))
            .unwrap_or_default();
        format!("host {host}, port {port}{user} (from PGHOST/PGPORT/PGUSER or their defaults)")
    }

    pub(super) fn run(
        &self,
        script: &str,
        vars: &[(&str, &str)],
        extra_env: &[(&str, String)],
    ) -> Result<std::process::Output> {
        let mut cmd = self.psql(vars)?;
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        tools::run(&mut cmd, Some(script))
    }

    pub(super) fn unreachable(&self, err: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "could not connect to Postgres at {}: {}; {}",
            self.describe(),
            one_line(err),
            if err.contains("password") {
                "put the password in ~/.pgpass (or PGPASSWORD), or use a role that needs none"
            } else {
                "start the server, or point git-agent at it with PGHOST/PGPORT/PGUSER or database.admin_url"
            }
        )
    }
}

/// Drops the database with this record's name on this record's server; a database that is
/// already gone is not an error. Sessions still connected to it are closed. A clone of it a
/// killed `add` left running on the server (the server goes on after its client died) is
/// stopped first, so that it cannot finish after the drop.
pub fn release(server: &Server, name: &str) -> Result<()> {
    check_name(name).map_err(|e| {
        anyhow::anyhow!("the slot record names a database git-agent would not have created: {e}")
    })?;
    stop_clones(server, name)?;
    let script = "select current_setting('server_version_num')::int >= 130000 as force \\gset\n\
                  \\if :force\n\
                  DROP DATABASE IF EXISTS :\"db\" WITH (FORCE);\n\
                  \\else\n\
                  select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = :'db';\n\
                  DROP DATABASE IF EXISTS :\"db\";\n\
                  \\endif\n";
    let out = server.run(script, &[("db", name)], &[])?;
    if out.status.success() {
        return Ok(());
    }
    let err = tools::stderr(&out);
    if out.status.code() == Some(2) && !err.contains("ERROR:") {
        return Err(server.unreachable(&err));
    }
    bail!(
        "could not drop the database {name} on {}: {}",
        server.describe(),
        one_line(&err)
    )
}

/// Ends git-agent's sessions still running `CREATE DATABASE` for `name`, and waits until they
/// are gone (their clone rolled back, or committed and then dropped by the caller).
fn stop_clones(server: &Server, name: &str) -> Result<()> {
    let sessions = format!(
        "from pg_stat_activity where application_name = '{APP_NAME}' and pid <> pg_backend_pid() \
         and left(query, length('CREATE DATABASE \"' || :'db' || '\"')) = 'CREATE DATABASE \"' || :'db' || '\"'"
    );
    let terminate = format!("select count(pg_terminate_backend(pid)) {sessions};\n");
    let count = format!("select count(*) {sessions};\n");
    let mut script = &terminate;
    for _ in 0..300 {
        let out = server.run(script, &[("db", name)], &[])?;
        if !out.status.success() {
            let err = tools::stderr(&out);
            if out.status.code() == Some(2) && !err.contains("ERROR:") {
                return Err(server.unreachable(&err));
            }
            bail!(
                "could not look for clones of {name} on {}: {}",
                server.describe(),
                one_line(&err)
            );
        }
        if String::from_utf8_lossy(&out.stdout).trim() == "0" {
            return Ok(());
        }
        script = &count;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bail!(
        "a clone of {name} on {} did not stop within 30 seconds",
        server.describe()
    )
}

pub(super) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("LOCATION:"))
        .collect::<Vec<_>>()
        .join(" ")
}
