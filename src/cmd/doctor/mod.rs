//! `git agent doctor [--json]`: what is wrong with this machine's and this repository's
//! git-agent setup, each finding with the command that fixes it. Checks are cheap: no
//! network call takes more than a couple of seconds, and the process table is read only when
//! a leased port is in use. Exit status 1 when any finding is an error.

mod machine;
mod repository;
mod services;
mod slots;

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use crate::cli::Doctor;
use crate::git::Repo;
use crate::{output, registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    Ok,
    Info,
    Warning,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Serialize)]
struct Finding {
    check: &'static str,
    level: Level,
    message: String,
    fix: Option<String>,
    slot: Option<String>,
}

#[derive(Default)]
struct Report {
    findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, check: &'static str, level: Level, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            level,
            message: message.into(),
            fix: None,
            slot: None,
        });
    }

    fn fix(
        &mut self,
        check: &'static str,
        level: Level,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.push(Finding {
            check,
            level,
            message: message.into(),
            fix: Some(fix.into()),
            slot: None,
        });
    }

    fn slot(&mut self, name: &str, level: Level, message: impl Into<String>, fix: Option<String>) {
        self.findings.push(Finding {
            check: "slot",
            level,
            message: message.into(),
            fix,
            slot: Some(name.to_string()),
        });
    }

    /// A finding of `check` about one slot.
    fn about(
        &mut self,
        check: &'static str,
        name: &str,
        level: Level,
        message: String,
        fix: String,
    ) {
        self.findings.push(Finding {
            check,
            level,
            message,
            fix: Some(fix),
            slot: Some(name.to_string()),
        });
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

pub fn run(args: &Doctor) -> Result<()> {
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
    let errors = report.count(Level::Error);
    let warnings = report.count(Level::Warning);
    if args.json {
        output::print_json(&json!({
            "version": output::JSON_VERSION,
            "ok": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "findings": report.findings,
        }))?;
    } else {
        output::print(&text(&report))?;
    }
    match (errors, warnings) {
        (0, 0) => eprintln!("git-agent: no problems found"),
        (e, w) => eprintln!("git-agent: {e} error(s), {w} warning(s)"),
    }
    if errors > 0 {
        return Err(crate::error::SilentExit(1).into());
    }
    Ok(())
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let subject = match &f.slot {
            Some(name) => format!("slot {name}"),
            None => f.check.to_string(),
        };
        out.push_str(&format!(
            "{:<8} {subject}: {}\n",
            f.level.as_str(),
            f.message
        ));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("{:<8}   fix: {fix}\n", ""));
        }
    }
    out
}
