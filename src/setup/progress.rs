//! A one-line status on stderr for steps that take a while (a checkout, a database clone, a
//! copy), shown only when stderr is a terminal and erased when the step ends, so logs and
//! pipes see nothing extra.

use std::io::{IsTerminal, Write};

/// Erases its line when dropped.
pub struct Status {
    shown: bool,
}

impl Status {
    pub fn start(text: &str) -> Status {
        let shown = std::io::stderr().is_terminal();
        if shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2Kgit-agent: {text}...");
            let _ = err.flush();
        }
        Status { shown }
    }
}

impl Drop for Status {
    fn drop(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
