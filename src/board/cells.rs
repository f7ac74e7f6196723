//! The board's cells: what each column says for one row (slot, agent, servers, git state,
//! landing, activity, task, ports, database, path) and in which colour.

use super::fit;
use super::table::{Cell, Col, Paint, Style, cell};
use super::{Kind, Row};
use crate::slot::State;

pub(super) fn row_cell(col: Col, row: &Row, now: u64, style: &Style) -> Cell {
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
