//! `git agent path SLOT`: the slot's directory, for `cd "$(git agent path x)"`.

use anyhow::Result;

use crate::cli::SlotArg;
use crate::git::Repo;
use crate::{output, slot};

pub fn run(args: &SlotArg) -> Result<()> {
    let repo = Repo::discover(&super::current_dir()?)?;
    let slot = slot::find(&repo.common_dir, &args.slot)?;
    output::print(&format!("{}\n", slot.path.display()))
}
