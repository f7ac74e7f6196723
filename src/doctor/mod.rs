//! Doctor's checks: what is wrong with this machine's and this repository's git-agent setup,
//! each finding with the command that fixes it. Checks are cheap: no network call takes more
//! than a couple of seconds, and the process table is read only when a leased port is in use.

mod machine;
mod report;
mod repository;
mod services;
mod slots;

use anyhow::Result;

use crate::git::Repo;
use crate::registry;

pub use report::{Finding, Level, Report, text};

/// Runs every check that applies where the current directory is: the machine's always, the
/// repository's and its slots' inside one.
pub fn diagnose() -> Result<Report> {
    let mut report = Report::default();
    machine::check_git(&mut report);
    machine::check_shell(&mut report);
    machine::check_man(&mut report);
    let cwd = crate::context::current_dir()?;
    let repo = match Repo::discover(&cwd) {
        Ok(repo) => Some(repo),
        Err(_) => {
            report.add(
                "repository",
                Level::Info,
                format!(
                    "{} is not in a git repository; only machine-wide checks ran",
                    cwd.display()
                ),
            );
            None
        }
    };
    if let Some(repo) = &repo {
        repository::check_repository(&mut report, repo);
    }
    let mut env_file = ".env.local".to_string();
    if let Some(repo) = &repo
        && let Some(config) = services::check_config(&mut report, repo)
    {
        services::check_tools(&mut report, &config);
        services::check_approvals(&mut report, repo, &config);
        env_file = config.env_file().to_string();
    }
    let registry = match registry::load() {
        Ok(registry) => Some(registry),
        Err(e) => {
            report.fix(
                "registry",
                Level::Error,
                format!("{e:#}"),
                "git agent prune --repair",
            );
            None
        }
    };
    if let Some(repo) = &repo {
        slots::check_slots(&mut report, repo, registry.as_ref());
        slots::check_orphans(&mut report, repo, registry.as_ref(), &env_file);
    }
    if let Some(registry) = &registry {
        slots::check_leases(&mut report, repo.as_ref(), registry);
        slots::check_ports(&mut report, registry);
    }
    Ok(report)
}
