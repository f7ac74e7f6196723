//! Errors that map to particular exit codes.

use std::fmt;

/// The user pressed Ctrl-C (or the process got SIGTERM/SIGHUP); exit 130.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Exit with this code and print nothing more (the message was already printed, or the
/// code is a child's exit status being passed on).
#[derive(Debug)]
pub struct SilentExit(pub i32);

impl fmt::Display for SilentExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}", self.0)
    }
}

impl std::error::Error for SilentExit {}

/// The exit code for an error: 130 for an interrupt, a passed-on code, else 1.
pub fn exit_code(error: &anyhow::Error) -> i32 {
    if error.downcast_ref::<Interrupted>().is_some() {
        130
    } else if let Some(SilentExit(code)) = error.downcast_ref::<SilentExit>() {
        *code
    } else {
        1
    }
}
