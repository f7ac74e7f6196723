//! Neon: a branch per slot, made and deleted with the user's own `neonctl`. Credentials stay
//! the user's: neonctl reads `NEON_API_KEY` (or its own login) from the environment, and
//! git-agent never writes them anywhere.

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::tools::{self, NEONCTL};
use super::{Context, Database, DatabaseConfig};

pub struct Plan {
    pub project_id: String,
    pub branch: String,
    parent: Option<String>,
}

pub fn plan(cfg: &DatabaseConfig, ctx: &Context) -> Result<Plan> {
    let vars = ctx.vars;
    let project_id = match &cfg.project_id {
        Some(p) => vars.render(p, "database.project_id")?,
        None => bail!(
            "database.project_id is required with engine = \"neon\"; set it to your Neon project's id (`neonctl projects list`)"
        ),
    };
    if project_id.is_empty() || project_id.starts_with('-') {
        bail!("database.project_id '{project_id}' is not a Neon project id");
    }
    let branch = vars.render(
        cfg.name
            .as_deref()
            .unwrap_or(super::namespaces::DEFAULT_NEON_BRANCH),
        "database.name",
    )?;
    if branch.is_empty() || branch.starts_with('-') {
        bail!(
            "the Neon branch name '{branch}' (database.name) must not be empty or start with '-'"
        );
    }
    let parent = cfg
        .parent
        .as_ref()
        .map(|p| vars.render(p, "database.parent"))
        .transpose()?;
    if parent
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.starts_with('-'))
    {
        bail!("database.parent must name a branch (not empty, not starting with '-')");
    }
    NEONCTL.find()?;
    if std::env::var_os("NEON_API_KEY").is_none_or(|k| k.is_empty()) && !logged_in() {
        bail!(
            "neonctl has no credentials: export NEON_API_KEY (an API key from the Neon console), or run `neonctl auth` once"
        );
    }
    Ok(Plan {
        project_id,
        branch,
        parent,
    })
}

/// Whether neonctl has a saved login of its own.
fn logged_in() -> bool {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")));
    base.is_some_and(|b| b.join("neonctl").join("credentials.json").exists())
}

impl Plan {
    /// Creates the branch. Returns its record (once it exists) and its connection URI, which
    /// may still fail to be found in the answer.
    pub fn create(&self) -> Result<(Database, Result<String>)> {
        let mut cmd = NEONCTL.command()?;
        cmd.args([
            "branches",
            "create",
            "--project-id",
            &self.project_id,
            "--name",
            &self.branch,
        ]);
        if let Some(parent) = &self.parent {
            cmd.args(["--parent", parent]);
        }
        cmd.args(["--output", "json"]);
        let out = tools::run(&mut cmd, None)?;
        if !out.status.success() {
            bail!(
                "neonctl could not create the branch {} in project {}: {}",
                self.branch,
                self.project_id,
                tools::stderr(&out)
            );
        }
        let json: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "neonctl branches create printed something that is not JSON: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            )
        })?;
        let Some(id) = json.pointer("/branch/id").and_then(Value::as_str) else {
            bail!(
                "neonctl branches create answered without a branch id; check the Neon console for a branch named {}",
                self.branch
            );
        };
        let record = Database::Neon {
            project_id: self.project_id.clone(),
            branch_id: id.to_string(),
            branch: self.branch.clone(),
        };
        let uri = json
            .pointer("/connection_uris/0/connection_uri")
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("neonctl branches create answered without a connection URI (does the branch have a compute?)");
        Ok((record, uri))
    }
}

/// Deletes the branch by the id recorded when it was created; a branch already gone is not
/// an error.
pub fn release(project_id: &str, branch_id: &str) -> Result<()> {
    if branch_id.is_empty() || branch_id.starts_with('-') || project_id.starts_with('-') {
        bail!(
            "the slot record names a Neon branch git-agent would not have created: '{branch_id}'"
        );
    }
    let mut cmd = NEONCTL.command()?;
    cmd.args([
        "branches",
        "delete",
        branch_id,
        "--project-id",
        project_id,
        "--output",
        "json",
    ]);
    let out = tools::run(&mut cmd, None)?;
    if out.status.success() {
        return Ok(());
    }
    let err = tools::stderr(&out);
    let lower = err.to_lowercase();
    if lower.contains("not found") || lower.contains("404") {
        return Ok(());
    }
    bail!("neonctl could not delete the branch {branch_id} of project {project_id}: {err}")
}
