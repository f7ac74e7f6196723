//! SQLite: the slot gets its own database file, empty or a consistent copy of a seed file.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};

use super::tools::{self, SQLITE3};
use super::{Context, Database, DatabaseConfig};

pub const DEFAULT_PATH: &str = ".git-agent/db.sqlite3";

pub struct Plan {
    pub path: PathBuf,
    seed: Option<PathBuf>,
    url: String,
}

/// The URL form Django (dj-database-url) and SQLAlchemy both open as an absolute path:
/// `sqlite:///` followed by the path's own leading slash. Three slashes alone would be a path
/// relative to the current directory for both.
pub const DEFAULT_URL: &str = "sqlite:///{db_file}";
/// What a Prisma schema with the sqlite provider reads (`file:` and an absolute path).
const PRISMA_URL: &str = "file:{db_file}";

pub fn plan(cfg: &DatabaseConfig, ctx: &Context) -> Result<Plan> {
    let relative = ctx
        .vars
        .render(cfg.path.as_deref().unwrap_or(DEFAULT_PATH), "database.path")?;
    if relative.is_empty() {
        bail!("database.path is empty; name the slot's database file (default {DEFAULT_PATH})");
    }
    // The file is deleted with the slot: it must be the slot's own.
    crate::fsutil::check_inside_slot(&relative)
        .map_err(|e| anyhow::anyhow!("database.path: {e:#}"))?;
    let path = ctx.slot_path.join(relative);
    // A file already there is not the slot's to remove later (it may be checked out, or
    // shared): refuse rather than take it over.
    for file in companions(&path) {
        if file.exists() {
            bail!(
                "database.path gives {}, which already exists; a slot's SQLite database must be a file of its own \
                 (keep it inside the slot, untracked, or put {{slot}} in the path)",
                file.display()
            );
        }
    }
    let seed = match &cfg.seed {
        Some(text) => {
            let seed = ctx
                .main_worktree
                .join(ctx.vars.render(text, "database.seed")?);
            if !seed.is_file() {
                bail!(
                    "the SQLite seed {} (database.seed, relative to {}) does not exist",
                    seed.display(),
                    ctx.main_worktree.display()
                );
            }
            Some(seed)
        }
        None => None,
    };
    let template = match &cfg.url {
        Some(url) => url.clone(),
        None if prisma_uses_sqlite(ctx.slot_path) => {
            eprintln!(
                "git-agent: prisma/schema.prisma uses SQLite, so DATABASE_URL is file:<path> (the form Prisma reads); \
                 set url under [database] in .git-agent.toml to choose another"
            );
            PRISMA_URL.to_string()
        }
        None => DEFAULT_URL.to_string(),
    };
    let mut vars = ctx.vars.clone();
    let file = path.to_string_lossy();
    // The default URL is one: '#', '?' and '%' in the path are written as URL escapes, which
    // dj-database-url, SQLAlchemy and sqlx all decode back (raw, the first two end the path).
    // A template's `{db_file}` stays the plain path, as Diesel and `file:` readers want it.
    let default = template == DEFAULT_URL;
    if default {
        vars.set("db_file", url_escaped(&file));
    } else {
        vars.set("db_file", file.clone());
    }
    let url = vars.render(&template, "database.url")?;
    if !default && file.contains(['#', '?', '%']) {
        eprintln!(
            "git-agent: warning: the slot's SQLite file {} has '#', '?' or '%' in its path, which URL readers \
             (dj-database-url, SQLAlchemy) cut off or decode; DATABASE_URL may open another file",
            path.display()
        );
    }
    Ok(Plan { path, seed, url })
}

/// A path with the characters that end or escape a URL's path written as escapes.
fn url_escaped(path: &str) -> String {
    path.replace('%', "%25")
        .replace('#', "%23")
        .replace('?', "%3F")
}

/// Whether the slot's `prisma/schema.prisma` declares a datasource with the sqlite provider.
fn prisma_uses_sqlite(slot: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(slot.join("prisma").join("schema.prisma")) else {
        return false;
    };
    let mut in_datasource = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if line.starts_with("datasource ") {
            in_datasource = true;
        } else if line.starts_with('}') {
            in_datasource = false;
        } else if in_datasource
            && let Some(value) = line.strip_prefix("provider")
            && value.trim_start().strip_prefix('=').map(str::trim) == Some("\"sqlite\"")
        {
            return true;
        }
    }
    false
}

impl Plan {
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Creates the directory and, with a seed, the copy. Cleans up its own partial output.
    pub fn create(&self) -> Result<Database> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        if let Some(seed) = &self.seed {
            if let Err(e) = copy_seed(seed, &self.path) {
                let _ = release(&self.path);
                return Err(e);
            }
        } else {
            // An empty file is an empty database to SQLite; clients that do not create a
            // missing file (sqlx by default, `mode=rw` URIs) then open it as others do.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("could not create {}", self.path.display()));
                }
            }
        }
        Ok(Database::Sqlite {
            path: self.path.clone(),
        })
    }
}

/// A consistent copy of a database another process may have open. Frames still in the
/// `-wal` are not in the main file, so the file alone would miss them (or all of it):
/// first a checkpoint folds the WAL into the main file, then the main file is copied
/// (`std::fs::copy` uses copy_file_range/clonefile, a reflink on XFS, btrfs and APFS). If
/// the checkpoint cannot complete (a reader holds the WAL) or the file changed while it was
/// copied, `VACUUM INTO` writes a snapshot instead.
fn copy_seed(seed: &Path, dest: &Path) -> Result<()> {
    let quiet = !wal_of(seed).exists() && !journal_of(seed).exists();
    if quiet {
        // No -wal and no hot journal: nobody is writing; skip sqlite3 altogether.
        if copy_if_unchanged(seed, dest)? {
            return Ok(());
        }
    } else if checkpoint(seed)? && copy_if_unchanged(seed, dest)? {
        return Ok(());
    }
    let _ = release(dest);
    vacuum_into(seed, dest)
}

/// Copies the main file, and reports whether it stayed unchanged (size, mtime, no WAL
/// content) while it was copied.
fn copy_if_unchanged(seed: &Path, dest: &Path) -> Result<bool> {
    let before = stamp(seed)?;
    std::fs::copy(seed, dest)
        .with_context(|| format!("could not copy {} to {}", seed.display(), dest.display()))?;
    let after = stamp(seed)?;
    Ok(before == after && wal_len(seed) == 0 && !journal_of(seed).exists())
}

fn stamp(path: &Path) -> Result<(u64, Option<SystemTime>)> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("could not read {}", path.display()))?;
    Ok((meta.len(), meta.modified().ok()))
}

fn wal_len(seed: &Path) -> u64 {
    std::fs::metadata(wal_of(seed))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: true when every frame reached the main file.
fn checkpoint(seed: &Path) -> Result<bool> {
    let mut cmd = sqlite3(seed)?;
    cmd.args([".timeout 2000", "PRAGMA wal_checkpoint(TRUNCATE);"]);
    let out = tools::run(&mut cmd, None)?;
    if !out.status.success() {
        return Ok(false);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<i64> = text
        .lines()
        .last()
        .unwrap_or("")
        .split('|')
        .filter_map(|f| f.trim().parse().ok())
        .collect();
    // busy | frames in the WAL | frames checkpointed; -1/-1 when not in WAL mode.
    Ok(matches!(fields.as_slice(), [0, log, done] if log == done))
}

fn vacuum_into(seed: &Path, dest: &Path) -> Result<()> {
    let mut cmd = sqlite3(seed)?;
    let literal = dest.to_string_lossy().replace('\'', "''");
    cmd.args([
        ".timeout 5000".to_string(),
        format!("VACUUM INTO '{literal}';"),
    ]);
    let out = tools::run(&mut cmd, None)?;
    if !out.status.success() {
        bail!(
            "could not copy the SQLite seed {} with VACUUM INTO: {}",
            seed.display(),
            tools::stderr(&out)
        );
    }
    Ok(())
}

fn sqlite3(db: &Path) -> Result<std::process::Command> {
    let mut cmd = SQLITE3.command()?;
    // No ~/.sqliterc; the path is absolute, so it is never taken for an option.
    cmd.args(["-init", "/dev/null", "-batch", "-bail"]).arg(db);
    Ok(cmd)
}

fn wal_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

fn journal_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-journal", path.display()))
}

fn companions(path: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", path.display())))
        .collect()
}

/// Removes the database file and its `-wal`/`-shm`/`-journal` companions, if still there.
pub fn release(path: &Path) -> Result<()> {
    for file in companions(path) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("could not remove {}", file.display()));
            }
        }
    }
    Ok(())
}
