//! Errors and the exit codes they map to. Each kind of failure has its own code, so scripts
//! and agents can tell "refused, it would lose work" from a real error without reading text:
//!
//! | code | kind          | meaning                                                              |
//! |------|---------------|----------------------------------------------------------------------|
//! | 0    |               | done                                                                 |
//! | 1    | `error`       | something failed (a bad template, git or a server failing, ...)      |
//! | 2    | `usage`       | the command line is wrong                                            |
//! | 3    | `refused`     | refused because work would be lost; the message names the flag      |
//! | 4    | `busy`        | another git-agent command is working on that slot right now          |
//! | 5    | `conflict`    | `merge`: the branch does not merge cleanly into its base; unchanged  |
//! | 6    | `test_failed` | `merge`: a `[merge] test` command failed; nothing was changed        |
//! | 127  | `not_found`   | the program to run (`exec`, `add -- CMD`) was not found              |
//! | 126  | `cannot_run`  | the program to run was found but could not be started                |
//! | 130  | `interrupted` | Ctrl-C, SIGTERM or SIGHUP; what was done was undone                  |
//!
//! With `--json` on the command line, the final error is also printed as one JSON object on
//! stderr's last line: `{"error":{"kind":"refused","message":"...","exit_code":3}}`.

use std::fmt;

/// Every exit status with its kind and meaning: the table `--help` and the man pages show.
pub const EXIT_STATUSES: &[(i32, &str, &str)] = &[
    (0, "", "done"),
    (
        1,
        "error",
        "something failed (a bad template, git or a server failing, ...)",
    ),
    (
        2,
        "usage",
        "the command line is wrong (or no SLOT was named outside a slot)",
    ),
    (
        3,
        "refused",
        "refused because work would be lost; the message names the flag that overrides",
    ),
    (
        4,
        "busy",
        "another git-agent command is working on that slot right now",
    ),
    (
        5,
        "conflict",
        "`merge`: the branch does not merge cleanly into its base; nothing was changed",
    ),
    (
        6,
        "test_failed",
        "`merge`: a `[merge] test` command failed; nothing was changed",
    ),
    (
        126,
        "cannot_run",
        "the program to run was found but could not be started",
    ),
    (
        127,
        "not_found",
        "the program to run (`exec`, `add -- CMD`) was not found",
    ),
    (
        130,
        "interrupted",
        "Ctrl-C, SIGTERM or SIGHUP; what was done was undone",
    ),
];

/// What `exec` and `add -- CMD` exit with once the program runs, and what `--json` adds.
pub const EXIT_NOTES: &str = "Once the program of `exec` or `add -- CMD` runs, its own exit \
    status is passed on. After Ctrl-C, `git-agent` exits 130; through `git agent`, git's own \
    wrapper gets the signal too and (git 2.47) exits 128 or dies of the signal itself, so scripts \
    that need 130 run `git-agent`. With --json, an error is also one JSON object on the last line of stderr: \
    {\"error\":{\"kind\":\"refused\",\"message\":\"...\",\"exit_code\":3}}";

/// The table as plain text, for `--help`.
pub fn exit_status_text() -> String {
    let mut text = String::from("Exit status:\n");
    for (code, kind, meaning) in EXIT_STATUSES {
        let kind = if kind.is_empty() {
            String::new()
        } else {
            format!("{kind}: ")
        };
        text.push_str(&format!("  {code:<4} {kind}{meaning}\n"));
    }
    text.push_str(EXIT_NOTES);
    text
}

/// What kind of failure an error is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Error,
    Usage,
    Refused,
    Busy,
    Conflict,
    TestFailed,
    NotFound,
    CannotRun,
    Interrupted,
}

impl Kind {
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Error => 1,
            Kind::Usage => 2,
            Kind::Refused => 3,
            Kind::Busy => 4,
            Kind::Conflict => 5,
            Kind::TestFailed => 6,
            Kind::CannotRun => 126,
            Kind::NotFound => 127,
            Kind::Interrupted => 130,
        }
    }

    /// The name in JSON errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Error => "error",
            Kind::Usage => "usage",
            Kind::Refused => "refused",
            Kind::Busy => "busy",
            Kind::Conflict => "conflict",
            Kind::TestFailed => "test_failed",
            Kind::NotFound => "not_found",
            Kind::CannotRun => "cannot_run",
            Kind::Interrupted => "interrupted",
        }
    }
}

/// An error of a particular kind, with its message.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error of `kind` with `message`.
pub fn fail(kind: Kind, message: impl fmt::Display) -> anyhow::Error {
    Failure {
        kind,
        message: message.to_string(),
    }
    .into()
}

/// Refused because work would be lost (exit 3); the message says what and which flag overrides.
pub fn refused(message: impl fmt::Display) -> anyhow::Error {
    fail(Kind::Refused, message)
}

/// Another git-agent command holds the slot (exit 4).
pub fn busy(message: impl fmt::Display) -> anyhow::Error {
    fail(Kind::Busy, message)
}

/// The user pressed Ctrl-C (or the process got SIGTERM/SIGHUP); exit 130.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Exit with this code and print nothing more: the code is a child's exit status being
/// passed on, or a pipe closed under us.
#[derive(Debug)]
pub struct SilentExit(pub i32);

impl fmt::Display for SilentExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for SilentExit {}

/// An error whose message was already printed on stderr as it happened (a transaction's
/// failure, before its undo lines). Its kind still decides the exit code, and with `--json`
/// it is printed again as the JSON error object.
#[derive(Debug)]
pub struct Reported {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Reported {}

/// Marks `error` as already printed, keeping its kind and message.
pub fn reported(error: &anyhow::Error) -> anyhow::Error {
    Reported {
        kind: kind(error),
        message: format!("{error:#}"),
    }
    .into()
}

/// The kind of an error: the first kind found along its chain of causes, else `Error`.
pub fn kind(error: &anyhow::Error) -> Kind {
    // Also a context (`Err(e).context(Interrupted)`), which `chain` does not show as one.
    if error.downcast_ref::<Interrupted>().is_some() {
        return Kind::Interrupted;
    }
    for cause in error.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.kind;
        }
        if let Some(r) = cause.downcast_ref::<Reported>() {
            return r.kind;
        }
        if cause.downcast_ref::<Interrupted>().is_some() {
            return Kind::Interrupted;
        }
    }
    Kind::Error
}

/// The exit code for an error: a passed-on code, else its kind's.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if let Some(SilentExit(code)) = error.downcast_ref::<SilentExit>() {
        return *code;
    }
    kind(error).exit_code()
}

/// What to print on stderr for a failed command, if anything: the text line, or with `json`
/// the JSON error object (one line).
pub fn render(error: &anyhow::Error, json: bool) -> Option<String> {
    if error.downcast_ref::<SilentExit>().is_some() {
        return None;
    }
    let already = error.downcast_ref::<Reported>().is_some();
    if json {
        let kind = kind(error);
        let value = serde_json::json!({
            "error": {
                "kind": kind.as_str(),
                "message": format!("{error:#}"),
                "exit_code": kind.exit_code(),
            }
        });
        return Some(value.to_string());
    }
    (!already).then(|| format!("git-agent: error: {error:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_documented_table_is_the_kinds() {
        let kinds = [
            Kind::Error,
            Kind::Usage,
            Kind::Refused,
            Kind::Busy,
            Kind::Conflict,
            Kind::TestFailed,
            Kind::CannotRun,
            Kind::NotFound,
            Kind::Interrupted,
        ];
        assert_eq!(EXIT_STATUSES.len(), kinds.len() + 1);
        for kind in kinds {
            assert!(
                EXIT_STATUSES
                    .iter()
                    .any(|(code, name, _)| *code == kind.exit_code() && *name == kind.as_str()),
                "{kind:?}"
            );
        }
        let codes: std::collections::BTreeSet<i32> = EXIT_STATUSES.iter().map(|r| r.0).collect();
        assert_eq!(codes.len(), EXIT_STATUSES.len(), "codes are distinct");
    }

    #[test]
    fn kinds_survive_context_and_reporting() {
        let e = Err::<(), _>(refused("would lose 2 commits"))
            .context("slot x")
            .unwrap_err();
        assert_eq!(exit_code(&e), 3);
        let r = reported(&e);
        assert_eq!(exit_code(&r), 3);
        assert_eq!(render(&r, false), None);
        let json: serde_json::Value = serde_json::from_str(&render(&r, true).unwrap()).unwrap();
        assert_eq!(json["error"]["kind"], "refused");
        assert_eq!(json["error"]["exit_code"], 3);
        assert_eq!(json["error"]["message"], "slot x: would lose 2 commits");
        let i: anyhow::Error = Interrupted.into();
        assert_eq!(exit_code(&i.context("while cloning")), 130);
        assert_eq!(exit_code(&anyhow::anyhow!("plain")), 1);
        assert_eq!(exit_code(&SilentExit(7).into()), 7);
    }
}
