//! Getting a slot ready for work: files the checkout does not bring, copied from the main
//! worktree (`[setup] copy`), and commands run in the slot with its environment
//! (`[setup] run`). Commands in a repository's template are code from that repository, so
//! they run only once the user approved their exact text (see `approvals`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::config::{Config, Setup};
use crate::txn::Txn;

pub mod approvals;
pub mod copy;
mod patterns;
pub mod progress;
pub mod run;

/// How the user asked setup to go.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// `--no-setup`: neither copy nor run.
    pub skip: bool,
    /// `--yes`: run the repository's commands this once without asking.
    pub yes: bool,
    /// `--keep-on-failure`: a failed command leaves the slot in place.
    pub keep_on_failure: bool,
}

/// What setup will do for a slot, settled (and approved) before anything is changed.
#[derive(Debug, Default)]
pub struct Plan {
    pub copy: Vec<String>,
    pub run: Vec<String>,
    pub keep_on_failure: bool,
}

impl Plan {
    /// Reads `[setup]` and makes sure its commands may run; asks on a terminal, fails at once
    /// otherwise.
    pub fn new(config: &Config, common_dir: &Path, opts: Options) -> Result<Plan> {
        if opts.skip {
            return Ok(Plan::default());
        }
        let Setup { copy, run } = config.template.setup.clone().unwrap_or_default();
        if config.setup_from_repo && !run.is_empty() && !opts.yes {
            let template = config
                .template_file
                .clone()
                .unwrap_or_else(|| crate::config::TEMPLATE_FILE.into());
            approvals::require(common_dir, &template, &run)?;
        }
        Ok(Plan {
            copy,
            run,
            keep_on_failure: opts.keep_on_failure,
        })
    }

    /// Copies `[setup] copy` from the main worktree. `undo`: remove the copies on rollback
    /// (needed when rollback keeps the worktree, as for an adopted one).
    pub fn copy(&self, main: &Path, slot: &Path, undo: bool, txn: &mut Txn) -> Result<()> {
        if self.copy.is_empty() {
            return Ok(());
        }
        copy::copy(&self.copy, main, slot, undo, txn)
    }

    /// Runs `[setup] run` in the slot with its variables.
    pub fn run(&self, slot: &Path, env: &BTreeMap<String, String>) -> Result<()> {
        run::run(&self.run, slot, env)
    }
}
