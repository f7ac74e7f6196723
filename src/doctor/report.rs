//! What doctor reports: findings, each with a level and the command that fixes it, and
//! their text form. The checks (in the sibling modules) only add to a `Report`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub level: Level,
    pub message: String,
    pub fix: Option<String>,
    pub slot: Option<String>,
}

#[derive(Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub(super) fn add(&mut self, check: &'static str, level: Level, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            level,
            message: message.into(),
            fix: None,
            slot: None,
        });
    }

    pub(super) fn fix(
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

    pub(super) fn slot(
        &mut self,
        name: &str,
        level: Level,
        message: impl Into<String>,
        fix: Option<String>,
    ) {
        self.findings.push(Finding {
            check: "slot",
            level,
            message: message.into(),
            fix,
            slot: Some(name.to_string()),
        });
    }

    /// A finding of `check` about one slot.
    pub(super) fn about(
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

    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }
}

/// The findings as lines for a terminal, each fix under its finding.
pub fn text(report: &Report) -> String {
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
