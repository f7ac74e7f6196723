//! `git agent env [SLOT]`: the slot's variables as dotenv lines, shell code or JSON.

use anyhow::Result;

use crate::cli::{Env, Shell};
use crate::context::Ctx;
use crate::{envfile, output, quote};

pub fn run(args: &Env) -> Result<()> {
    let ctx = Ctx::load_existing()?;
    let slot = ctx.slot_or_here(args.slot.as_deref(), "env")?;
    let vars = ctx.slot_env(&slot);
    if args.json {
        let mut value = crate::provision::slot_json(&slot);
        value["env"] = serde_json::to_value(&vars)?;
        if let Some(redis) = &slot.resources.redis {
            value["redis_prefix"] = redis.prefix.clone().into();
        }
        value["database_url"] = crate::services::database_url(&slot.resources, &vars).into();
        // What runs in it and when it last changed, as `ls --json` says.
        if let Some((row, now)) = crate::board::slot_row(&ctx.repo, &ctx.cwd, &slot.path)? {
            crate::board::json::live(&mut value, &row, now);
        }
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
