//! `ls --watch`: the board redrawn in place every 2 s, and at once when a slot is added or
//! removed or the terminal is resized, until Ctrl-C (exit 130). Only the lines that changed are
//! rewritten, in one write, on the terminal's alternate screen: no flicker, and the shell's
//! screen comes back on exit. Cheap enough to leave open: the process table is read once per
//! refresh and a worktree's status only when something it depends on changed, or one
//! worktree per refresh after 30 s (see [`super::Gatherer`]).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use super::table::{self, Style};
use super::{Board, Gatherer};
use crate::error::SilentExit;
use crate::git::Repo;

const EVERY: Duration = Duration::from_secs(2);
/// How often Ctrl-C, a resize and a new or removed slot are looked for between refreshes.
const TICK: Duration = Duration::from_millis(100);

pub fn run(repo: &Repo, cwd: &Path, status: bool) -> Result<()> {
    crate::txn::install_handler();
    let terminal = std::io::stdout().is_terminal();
    let mut gatherer = Gatherer::new(status);
    let mut screen = Screen::enter(terminal);
    let result = (|| -> Result<()> {
        loop {
            let board = gatherer.gather(repo, cwd, None)?;
            let mut style = Style::for_stdout();
            screen.show(&board, &style)?;
            let due = Instant::now() + EVERY;
            let poke = slots_changed_marker(repo);
            while Instant::now() < due {
                std::thread::sleep(TICK);
                if crate::txn::interrupted() {
                    return Ok(());
                }
                let now = Style::for_stdout();
                if now.width != style.width {
                    style = now;
                    screen.show(&board, &style)?;
                }
                if slots_changed_marker(repo) != poke {
                    break;
                }
            }
        }
    })();
    screen.leave();
    result?;
    // Ctrl-C is how a watch ends: exit 130, as an interrupted program does, without an error.
    Err(SilentExit(130).into())
}

/// Changes when a slot is added or removed, or a worktree made or removed.
fn slots_changed_marker(repo: &Repo) -> Vec<Option<SystemTime>> {
    let time = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    vec![
        time(&crate::slot::slots_dir(&repo.common_dir)),
        time(&repo.common_dir.join("worktrees")),
    ]
}

/// What is on the screen, to rewrite only the lines that changed.
struct Screen {
    terminal: bool,
    shown: Vec<String>,
    width: Option<usize>,
}

impl Screen {
    fn enter(terminal: bool) -> Screen {
        if terminal {
            // The alternate screen (restored on exit), cursor hidden, cleared.
            write_out("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
        }
        Screen {
            terminal,
            shown: Vec::new(),
            width: None,
        }
    }

    fn show(&mut self, board: &Board, style: &Style) -> Result<()> {
        let mut lines = table::lines(board, style);
        if !self.terminal {
            // Piped: each new state of the board in full, once, after a blank line.
            if lines != self.shown {
                let text = format!(
                    "{}{}\n",
                    if self.shown.is_empty() { "" } else { "\n" },
                    lines.join("\n")
                );
                crate::output::print(&text)?;
                self.shown = lines;
            }
            return Ok(());
        }
        if let Some((_, h)) = terminal_size::terminal_size() {
            let height = h.0 as usize;
            if height > 1 && lines.len() > height - 1 {
                let more = lines.len() - (height - 2);
                lines.truncate(height - 2);
                lines.push(format!(
                    "... {more} more lines (a taller terminal shows them)"
                ));
            }
        }
        let mut out = String::new();
        if self.width != style.width {
            // Resized: everything moves, so everything is drawn again.
            out.push_str("\x1b[H\x1b[2J");
            self.shown.clear();
            self.width = style.width;
        }
        for (i, line) in lines.iter().enumerate() {
            if self.shown.get(i) != Some(line) {
                out.push_str(&format!("\x1b[{};1H{line}\x1b[K", i + 1));
            }
        }
        if lines.len() < self.shown.len() {
            out.push_str(&format!("\x1b[{};1H\x1b[J", lines.len() + 1));
        }
        if !out.is_empty() {
            crate::output::print(&out)?;
        }
        self.shown = lines;
        Ok(())
    }

    fn leave(&mut self) {
        if self.terminal {
            write_out("\x1b[?25h\x1b[?1049l");
        }
    }
}

fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
