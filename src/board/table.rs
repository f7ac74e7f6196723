//! The board as a table that reads at a glance: the main worktree first, the slot you stand in
//! marked, each slot's agent and whether it is working, its dev servers, git state, last
//! activity and task.
//!
//! LAND says whether a slot's branch has no commits yet (`new`), is integrated into its base,
//! would merge cleanly (`ready`) or would conflict (`conflict(N)`), from the landing module.
//!
//! On a terminal the whole row fits its width, in this order until it does: paths are written
//! with `~`, the task note is cut to 40 columns, paths are cut in the middle (down to 24), then
//! columns are dropped — PATH, DATABASE, PORTS — the task is cut to 20, BRANCH and then
//! ACTIVE are dropped, the task is cut to 8, and the remaining columns are cut. Colours by
//! state unless `NO_COLOR` is set. Piped, the output is plain and nothing is cut. A column is
//! shown only when it says something (DATABASE only when some slot's database is not the
//! default SQLite file).

use std::io::IsTerminal;

use super::cells::row_cell;
use super::fit::{self, width};
use super::{Board, Kind, Row};

/// How to draw: for a terminal of some width, or plain for a pipe.
#[derive(Debug, Clone)]
pub struct Style {
    /// The terminal's width; `None` when stdout is not a terminal (nothing is cut).
    pub width: Option<usize>,
    pub color: bool,
    /// The locale's character set is UTF-8 (arrows and an ellipsis character; ASCII else).
    pub utf8: bool,
    pub home: Option<String>,
}

impl Style {
    /// For stdout as it is: a terminal's width and colours (unless `NO_COLOR` or a dumb
    /// terminal), plain for a pipe.
    pub fn for_stdout() -> Style {
        let terminal = std::io::stdout().is_terminal();
        let width = terminal
            .then(|| terminal_size::terminal_size().map(|(w, _)| w.0 as usize))
            .flatten()
            .filter(|w| *w > 0);
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Style {
            width,
            color: terminal && !no_color && !dumb,
            utf8: utf8_locale(),
            home: std::env::var("HOME").ok(),
        }
    }

    pub(super) fn ellipsis(&self) -> &'static str {
        if self.utf8 { "…" } else { "..." }
    }
}

/// Whether the locale says UTF-8 (`LC_ALL`, else `LC_CTYPE`, else `LANG`, as C programs read it).
pub fn utf8_locale() -> bool {
    for var in ["LC_ALL", "LC_CTYPE", "LANG"] {
        if let Ok(value) = std::env::var(var)
            && !value.is_empty()
        {
            let value = value.to_ascii_lowercase();
            return value.contains("utf-8") || value.contains("utf8");
        }
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Slot,
    Branch,
    Agent,
    Servers,
    Git,
    Land,
    Active,
    Task,
    Ports,
    Database,
    Path,
}

impl Col {
    pub(super) fn header(self) -> &'static str {
        match self {
            Col::Slot => "  SLOT",
            Col::Branch => "BRANCH",
            Col::Agent => "AGENT",
            Col::Servers => "SERVERS",
            Col::Git => "GIT",
            Col::Land => "LAND",
            Col::Active => "ACTIVE",
            Col::Task => "TASK",
            Col::Ports => "PORTS",
            Col::Database => "DATABASE",
            Col::Path => "PATH",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Paint {
    Plain,
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
    Cyan,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Plain => "",
            Paint::Bold => "1",
            Paint::Dim => "2",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Red => "31",
            Paint::Cyan => "36",
        }
    }
}

pub(super) struct Cell {
    pub(super) text: String,
    paint: Paint,
}

pub(super) fn cell(text: impl Into<String>, paint: Paint) -> Cell {
    Cell {
        text: text.into(),
        paint,
    }
}

/// The table's lines, each fitted to the style's width (without the newline).
pub fn lines(board: &Board, style: &Style) -> Vec<String> {
    let cols = columns(board);
    let mut grid: Vec<Vec<Cell>> =
        vec![cols.iter().map(|c| cell(c.header(), Paint::Bold)).collect()];
    for row in &board.rows {
        grid.push(
            cols.iter()
                .map(|c| row_cell(*c, row, board.now, style))
                .collect(),
        );
    }
    let mut cols = cols;
    if let Some(limit) = style.width {
        super::layout::fit_to(limit, &mut cols, &mut grid, style);
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|c| grid.iter().map(|r| width(&r[c].text)).max().unwrap_or(0))
        .collect();
    let mut out = Vec::new();
    for row in &grid {
        let mut line = String::new();
        let mut plain = String::new();
        for (c, cell) in row.iter().enumerate() {
            let last = c + 1 == row.len();
            let pad = if last {
                0
            } else {
                widths[c] - width(&cell.text) + 2
            };
            plain.push_str(&cell.text);
            plain.push_str(&" ".repeat(pad));
            if style.color && cell.paint != Paint::Plain && !cell.text.trim().is_empty() {
                line.push_str(&format!("\x1b[{}m{}\x1b[0m", cell.paint.code(), cell.text));
            } else {
                line.push_str(&cell.text);
            }
            line.push_str(&" ".repeat(pad));
        }
        let line = if style.color { line } else { plain };
        out.push(line.trim_end().to_string());
    }
    let listening =
        cols.contains(&Col::Ports) && board.rows.iter().any(|r| r.listening.values().any(|l| *l));
    if listening {
        out.push("(* = something is listening on the port)".to_string());
    }
    if board.rows.iter().any(|r| matches!(r.kind, Kind::Other(_))) {
        out.push(
            "(not a slot): made by git or another tool; `git agent adopt PATH` makes it a slot"
                .to_string(),
        );
    }
    if let Some(limit) = style.width {
        // Never wrap: a footnote too long for the terminal is cut like the rest.
        let n = grid.len();
        for line in out.iter_mut().skip(n) {
            *line = fit::cut_end(line, limit, style.ellipsis());
        }
    }
    out
}

/// The columns that say something for this board.
fn columns(board: &Board) -> Vec<Col> {
    let any = |f: &dyn Fn(&Row) -> bool| board.rows.iter().any(f);
    let mut cols = vec![Col::Slot, Col::Branch];
    let unknown = board.processes && any(&|r| r.processes.is_none());
    if unknown || any(&|r| r.lead().is_some()) {
        cols.push(Col::Agent);
    }
    if unknown || any(&|r| !r.servers().is_empty()) {
        cols.push(Col::Servers);
    }
    cols.push(Col::Git);
    if any(&|r| r.landing.is_some()) {
        cols.push(Col::Land);
    }
    if any(&|r| r.activity.is_some()) {
        cols.push(Col::Active);
    }
    if any(&|r| r.slot().is_some_and(|s| s.task.is_some()) || matches!(r.kind, Kind::Other(_))) {
        cols.push(Col::Task);
    }
    if any(&|r| r.slot().is_some_and(|s| !s.ports.is_empty())) {
        cols.push(Col::Ports);
    }
    if any(&|r| r.slot().is_some_and(|s| !default_database(s))) {
        cols.push(Col::Database);
    }
    cols.push(Col::Path);
    cols
}

fn default_database(slot: &crate::slot::Slot) -> bool {
    match &slot.resources.database {
        None => true,
        Some(crate::services::Database::Sqlite { path }) => {
            path == &slot.path.join(crate::services::sqlite::DEFAULT_PATH)
                || path.ends_with(crate::services::sqlite::DEFAULT_PATH)
        }
        Some(_) => false,
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
