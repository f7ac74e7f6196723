//! `git agent merge [SLOT]`: lands a slot's branch on its base, then removes the slot. The
//! whole sequence lives in `land::command`; this file turns the command line into its request
//! and prints the result.

use anyhow::Result;

use crate::cli::Merge;
use crate::context::Ctx;
use crate::land::command::{self, Options, Outcome};
use crate::land::merge::{Request, Strategy};
use crate::land::show;
use crate::{output, txn};

pub fn run(args: &Merge) -> Result<()> {
    txn::install_handler();
    let ctx = Ctx::load()?;
    let strategy = if args.rebase {
        Strategy::Rebase
    } else if args.no_ff {
        Strategy::NoFf
    } else {
        Strategy::Squash
    };
    let request = Request {
        into: args.into.clone(),
        strategy,
        message: args.message.clone(),
        test: !args.no_test,
        yes: args.yes,
        dry_run: args.dry_run,
    };
    let options = Options {
        slot: args.slot.clone(),
        keep: args.keep,
        kill: args.kill,
    };
    match command::run(&ctx, &request, &options)? {
        Outcome::Planned(plan) if args.json => {
            output::print_json(&show::planned_json(&plan, args.keep))
        }
        Outcome::Planned(plan) => output::print(&plan.describe(args.keep)),
        Outcome::Landed {
            plan,
            landed,
            removed,
        } if args.json => output::print_json(&show::landed_json(&plan, &landed, removed)),
        Outcome::Landed { .. } => Ok(()),
    }
}
