//! The board as JSON (`ls --json`, and the live part of `env --json`), documented in
//! docs/json.md.

use serde_json::{Value, json};

use super::{Board, Kind, Row};
use crate::land::readiness::Readiness;
use crate::procs::Proc;
use crate::slot::Slot;

/// `ls --json`: the slots, then the worktrees that are not slots (the main worktree is not
/// an element: the array is the slots, as it always was).
pub fn board(board: &Board) -> Value {
    let mut all = Vec::new();
    for row in &board.rows {
        match &row.kind {
            Kind::Slot(slot) => {
                // The slot as `add --json` shows it (ports as numbers, as everywhere), with
                // which ports are listening and the git state instead of the env.
                let mut value = crate::provision::slot_json(slot);
                if let Some(object) = value.as_object_mut() {
                    object.remove("env");
                    object.insert("listening".into(), json!(row.listening));
                    object.insert("git".into(), git(row));
                    let landing = row
                        .landing
                        .as_ref()
                        .map_or(Value::Null, |l| landing(slot, l));
                    object.insert("landing".into(), landing);
                    object.insert("broken".into(), json!(slot.broken));
                }
                live(&mut value, row, board.now);
                all.push(value);
            }
            Kind::Other(other) => all.push(crate::worktrees::json(other)),
            Kind::Main => {}
        }
    }
    Value::Array(all)
}

fn git(row: &Row) -> Value {
    match &row.git {
        None => Value::Null,
        Some(g) => json!({
            "missing": g.missing,
            "dirty": g.changes > 0,
            "changes": g.changes,
            "ahead": g.ahead,
            "behind": g.behind,
            "error": g.error,
        }),
    }
}

/// Adds what runs in the row and when it last changed to a slot's object.
pub fn live(value: &mut Value, row: &Row, now: u64) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    object.insert("here".into(), json!(row.here));
    object.insert("activity".into(), json!(row.activity));
    object.insert("agent".into(), json!(row.lead().map(|p| p.name.clone())));
    object.insert("busy".into(), json!(row.lead_busy()));
    let processes = row
        .processes
        .as_ref()
        .map(|list| list.iter().map(|p| process(p, now)).collect::<Vec<_>>());
    object.insert("processes".into(), json!(processes));
}

fn process(p: &Proc, now: u64) -> Value {
    json!({
        "pid": p.pid,
        "parent": p.parent,
        "name": p.name,
        "command": p.command,
        "cwd": p.cwd,
        "agent": p.agent,
        "shell": p.shell,
        "ports": p.ports,
        "started": p.started,
        "age": p.age(now),
        "busy": p.busy,
        "cpu_ms": p.cpu_ms,
    })
}

/// The `landing` object: where the branch stands against its base (the LAND column).
fn landing(slot: &Slot, landing: &Readiness) -> Value {
    let (into, how) = match &landing.integrated {
        Some((into, how)) => (Some(into.clone()), Some(how.as_str())),
        None => (None, None),
    };
    json!({
        "into": slot.base,
        "integrated": landing.integrated.is_some(),
        "integrated_into": into,
        "how": how,
        "commits": landing.missing.as_ref().map(|m| m.commits),
        "conflicts": landing.conflicts.as_ref().map(|f| !f.is_empty()),
        "conflict_files": landing.conflicts.clone().unwrap_or_default(),
        "error": landing.error,
    })
}
