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

use super::fit::{self, width};
use super::{Board, Kind, Row};
use crate::slot::State;

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
enum Paint {
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

fn cell(text: impl Into<String>, paint: Paint) -> Cell {
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

fn row_cell(col: Col, row: &Row, now: u64, style: &Style) -> Cell {
    match col {
        Col::Slot => slot_cell(row, style),
        Col::Branch => cell(
            row.branch.clone().unwrap_or_else(|| "(detached)".into()),
            Paint::Plain,
        ),
        Col::Agent => agent_cell(row),
        Col::Servers => servers_cell(row),
        Col::Git => git_cell(row, style),
        Col::Land => land_cell(row),
        Col::Active => match row.activity {
            Some(t) => {
                let ago = now.saturating_sub(t);
                cell(
                    fit::ago(ago),
                    if ago < 60 { Paint::Plain } else { Paint::Dim },
                )
            }
            None => cell("-", Paint::Dim),
        },
        Col::Task => match &row.kind {
            Kind::Slot(slot) => cell(task_line(slot.task.as_deref()), Paint::Plain),
            Kind::Other(other) => cell(
                format!("made by {}", other.made_by_text().trim_matches('`')),
                Paint::Dim,
            ),
            Kind::Main => cell("-", Paint::Dim),
        },
        Col::Ports => match row.slot() {
            Some(slot) => {
                let mut by_port: Vec<(&String, &u16)> = slot.ports.iter().collect();
                by_port.sort_by_key(|(_, port)| **port);
                let text: Vec<String> = by_port
                    .into_iter()
                    .map(|(name, port)| {
                        let on = row.listening.get(name).copied().unwrap_or(false);
                        format!("{port}{}", if on { "*" } else { "" })
                    })
                    .collect();
                cell(
                    if text.is_empty() {
                        "-".into()
                    } else {
                        text.join(",")
                    },
                    Paint::Plain,
                )
            }
            None => cell("-", Paint::Dim),
        },
        Col::Database => match row.slot() {
            Some(slot) => cell(database_text(slot), Paint::Plain),
            None => cell("-", Paint::Dim),
        },
        Col::Path => {
            let path = row.path.display().to_string();
            let shown = match style.width {
                Some(_) => fit::home_short(&path, style.home.as_deref()),
                None => path,
            };
            cell(shown, Paint::Dim)
        }
    }
}

fn slot_cell(row: &Row, style: &Style) -> Cell {
    let mark = match (row.here, style.utf8) {
        (true, true) => "▶ ",
        (true, false) => "> ",
        (false, _) => "  ",
    };
    let (name, paint) = match &row.kind {
        Kind::Main => ("(main)".to_string(), Paint::Plain),
        // What is left of a slot a command could not finish, and the command that does.
        Kind::Slot(slot) if slot.broken.is_some() => (
            format!(
                "{} ({}, broken: {})",
                slot.name,
                slot.state.as_str(),
                match slot.state {
                    State::Removing => format!("git agent rm {}", slot.name),
                    _ => "git agent prune".to_string(),
                }
            ),
            Paint::Yellow,
        ),
        Kind::Slot(slot) if slot.state != State::Ready => (
            format!("{} ({})", slot.name, slot.state.as_str()),
            Paint::Yellow,
        ),
        Kind::Slot(slot) => (slot.name.clone(), Paint::Plain),
        Kind::Other(_) => ("(not a slot)".to_string(), Paint::Dim),
    };
    let paint = if row.here { Paint::Bold } else { paint };
    cell(format!("{mark}{name}"), paint)
}

fn agent_cell(row: &Row) -> Cell {
    if row.processes.is_none() {
        return cell("unknown", Paint::Dim);
    }
    let Some(lead) = row.lead() else {
        return cell("-", Paint::Dim);
    };
    match row.lead_busy() {
        Some(true) => cell(format!("{} busy", lead.name), Paint::Green),
        Some(false) => cell(format!("{} idle", lead.name), Paint::Yellow),
        None => cell(lead.name.clone(), Paint::Plain),
    }
}

fn servers_cell(row: &Row) -> Cell {
    if row.processes.is_none() {
        return cell("unknown", Paint::Dim);
    }
    let servers = row.servers();
    if servers.is_empty() {
        return cell("-", Paint::Dim);
    }
    let text: Vec<String> = servers
        .iter()
        .map(|p| {
            let ports: Vec<String> = p.ports.iter().flatten().map(u16::to_string).collect();
            format!("{}:{}", p.name, ports.join(","))
        })
        .collect();
    cell(text.join(" "), Paint::Cyan)
}

fn git_cell(row: &Row, style: &Style) -> Cell {
    let Some(git) = &row.git else {
        return cell("-", Paint::Dim);
    };
    if git.missing {
        return cell("missing", Paint::Red);
    }
    if let Some(e) = &git.error {
        return cell(format!("error: {e}"), Paint::Red);
    }
    let (mut text, paint) = if git.changes == 0 {
        ("clean".to_string(), Paint::Green)
    } else {
        (format!("dirty({})", git.changes), Paint::Yellow)
    };
    let (up, down) = if style.utf8 {
        ("↑", "↓")
    } else {
        ("^", "v")
    };
    if let Some(a) = git.ahead.filter(|a| *a > 0) {
        text.push_str(&format!(" {up}{a}"));
    }
    if let Some(b) = git.behind.filter(|b| *b > 0) {
        text.push_str(&format!(" {down}{b}"));
    }
    cell(text, paint)
}

/// Whether the branch is integrated into its base, or would merge cleanly or conflict.
fn land_cell(row: &Row) -> Cell {
    let Some(landing) = &row.landing else {
        return cell("-", Paint::Dim);
    };
    if landing.fresh {
        return cell("new", Paint::Dim);
    }
    if landing.integrated.is_some() {
        return cell("integrated", Paint::Cyan);
    }
    match &landing.conflicts {
        Some(files) if files.is_empty() => cell("ready", Paint::Green),
        Some(files) => cell(format!("conflict({})", files.len()), Paint::Red),
        None if landing.error.is_some() => cell("?", Paint::Dim),
        None => cell("-", Paint::Dim),
    }
}

/// A task's first line (the whole of it: the table cuts it to fit).
fn task_line(task: Option<&str>) -> String {
    task.and_then(|t| t.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("-")
        .trim()
        .to_string()
}

/// The database, with the slot's own directory left out of paths inside it.
fn database_text(slot: &crate::slot::Slot) -> String {
    let Some(db) = &slot.resources.database else {
        return "-".into();
    };
    let text = crate::services::describe_database(db);
    let root = format!("{}/", slot.path.display());
    text.replace(&root, "")
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
