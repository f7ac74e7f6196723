//! SQLite: the slot gets its own database file inside its worktree.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::{Context, Database, DatabaseConfig};

pub const DEFAULT_PATH: &str = ".git-agent/db.sqlite3";

pub fn provision(cfg: &DatabaseConfig, ctx: &Context) -> Result<(Database, String)> {
    let relative = ctx.vars.render(cfg.path.as_deref().unwrap_or(DEFAULT_PATH), "database.path")?;
    let path = ctx.slot_path.join(relative);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let url = format!("sqlite://{}", path.display());
    Ok((Database::Sqlite { path }, url))
}

/// Removes the database file and its `-wal`/`-shm` companions, if they are still there.
pub fn release(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("could not remove {}", file.display())),
        }
    }
    Ok(())
}
