//! `git agent env [SLOT]`: the slot's variables as dotenv lines, shell code or JSON.

use std::path::Path;

use anyhow::{Result, bail};

use super::Ctx;
use crate::cli::{Env, Shell};
use crate::slot::{self, Slot};
use crate::{envfile, output, quote};

pub fn run(args: &Env) -> Result<()> {
    let ctx = Ctx::load_existing()?;
    let slot = match &args.slot {
        Some(name) => slot::find(&ctx.repo.common_dir, name)?,
        None => containing(&ctx.repo.common_dir, &ctx.cwd)?,
    };
    let vars = ctx.slot_env(&slot);
    if args.json {
        let mut value = crate::provision::slot_json(&slot);
        value["env"] = serde_json::to_value(&vars)?;
        if let Some(redis) = &slot.resources.redis {
            value["redis_prefix"] = redis.prefix.clone().into();
        }
        value["database_url"] = crate::services::database_url(&slot.resources, &vars).into();
        return output::print_json(&value);
    }
    let mut text = String::new();
    for (key, value) in &vars {
        let line = match args.shell {
            Some(Shell::Bash | Shell::Zsh) => format!("export {key}={}\n", quote::posix(value)),
            Some(Shell::Fish) => format!("set -gx {key} {}\n", quote::fish(value)),
            None => format!("{key}={}\n", envfile::quote_value(value)),
        };
        text.push_str(&line);
    }
    output::print(&text)
}

/// The slot whose directory contains `dir`.
pub fn containing(common: &Path, dir: &Path) -> Result<Slot> {
    let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let slots = slot::load_all(common)?;
    let found = slots.into_iter().filter(|s| {
        let root = std::fs::canonicalize(&s.path).unwrap_or_else(|_| s.path.clone());
        real.starts_with(&root) || dir.starts_with(&s.path)
    });
    match found.max_by_key(|s| s.path.as_os_str().len()) {
        Some(slot) => Ok(slot),
        None => bail!(
            "{} is not inside a slot; name one (`git agent env SLOT`) or see `git agent ls`",
            dir.display()
        ),
    }
}
