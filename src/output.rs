//! Writing to stdout, where only data and shell code go. A closed pipe (`git agent ls | head`)
//! ends the output quietly instead of panicking.

use std::io::Write;

use anyhow::Result;

use crate::error::SilentExit;

/// The version every JSON object carries (`docs/json.md`); raised when a field is removed or
/// renamed or changes its type.
pub const JSON_VERSION: u32 = 2;

pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(SilentExit(0).into()),
        Err(e) => Err(anyhow::anyhow!("could not write to stdout: {e}")),
    }
}

pub fn print_json(value: &serde_json::Value) -> Result<()> {
    print(&format!("{}\n", serde_json::to_string_pretty(value)?))
}
