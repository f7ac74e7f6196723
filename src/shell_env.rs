//! What the shell hook changes when the shell enters, leaves or switches slots (for
//! `git-agent hook-env`, and for commands that must run outside any slot's variables). It
//! reads the user's registry (the only trusted list of slot roots), the slot's env file as
//! data and the restore state the hook keeps in the environment, and answers with
//! NUL-separated records for the hook to apply: `set NAME VALUE` and `unset NAME`. Nothing it
//! answers is ever evaluated as shell code. No gix, no git: it runs on the prompt's path.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::registry::{self, Entry};
use crate::{envfile, slot, slotenv};

/// The exported variable that holds what the hook changed, so that leaving a slot (in this
/// shell, a nested one or a new tmux pane) puts back what was there before.
pub const STATE_VAR: &str = "__GIT_AGENT_STATE";
const ROOT_VAR: &str = "GIT_AGENT_ROOT";
const SLOT_VAR: &str = "GIT_AGENT_SLOT";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub root: PathBuf,
    pub slot: String,
    /// Each variable's value from before any slot set it (`None`: it was unset).
    pub prev: BTreeMap<String, Option<String>>,
    /// What the hook set, to tell the user's own changes since from the hook's.
    pub applied: BTreeMap<String, String>,
}

/// The slot the shell is in now: its root, name and variables.
pub struct Target {
    pub root: PathBuf,
    pub slot: String,
    pub vars: BTreeMap<String, String>,
}

/// One change for the shell to make: set a variable, or unset it (`None`).
pub type Record = (String, Option<String>);

/// The hook's answer for a shell now in `dir`: the records (with the new restore state) as
/// the hook reads them, and the line to show, if any. `allow_env`: names the user trusts
/// env files to set although they could take over programs.
pub fn respond(dir: &Path, allow_env: &[String]) -> Result<(String, Option<String>)> {
    let allows = |name: &str| allow_env.iter().any(|n| n == name);
    let old = std::env::var(STATE_VAR).ok().and_then(|text| match serde_json::from_str::<State>(&text) {
        Ok(state) => Some(state),
        Err(_) => {
            eprintln!("git-agent: warning: ignoring a damaged {STATE_VAR}; variables of the slot you left stay set");
            None
        }
    });
    let registry = registry::load().unwrap_or_else(|e| {
        eprintln!("git-agent: warning: {e:#}");
        registry::Registry::default()
    });
    let target = containing(&registry, dir).map(|entry| Target {
        root: entry.root.clone(),
        slot: entry.name.clone(),
        vars: slot_vars(entry, &allows),
    });
    let allowed = |name: &str| restorable(name, &allows);
    let (records, state) = transition(old.as_ref(), target.as_ref(), allowed, |k| {
        std::env::var_os(k)
    });

    let mut out = String::new();
    for (key, value) in &records {
        push_record(&mut out, key, value.as_deref());
    }
    match &state {
        Some(state) => push_record(&mut out, STATE_VAR, Some(&serde_json::to_string(state)?)),
        None if std::env::var_os(STATE_VAR).is_some() => push_record(&mut out, STATE_VAR, None),
        None => {}
    }
    Ok((out, message(old.as_ref(), target.as_ref())))
}

/// What leaving the slot this process's shell is in would change: for each variable the hook
/// set (and that still holds what it set), its value from before (`None`: unset). Empty
/// outside a slot. Commands that must not see a slot's variables start from this.
pub fn outside_slots(allows: &dyn Fn(&str) -> bool) -> Vec<Record> {
    let Some(old) = std::env::var(STATE_VAR)
        .ok()
        .and_then(|text| serde_json::from_str::<State>(&text).ok())
    else {
        return Vec::new();
    };
    let (records, _) = transition(
        Some(&old),
        None,
        |n| restorable(n, allows),
        |k| std::env::var_os(k),
    );
    records
}

/// The registered slot whose root holds `dir` (the deepest, should roots nest).
fn containing<'a>(registry: &'a registry::Registry, dir: &Path) -> Option<&'a Entry> {
    registry
        .slots
        .iter()
        .filter(|e| dir.starts_with(&e.root))
        .max_by_key(|e| e.root.as_os_str().len())
}

/// The slot's variables: its whole env file read as data (the user's own lines too), without
/// names that could take over the shell, plus GIT_AGENT_SLOT and GIT_AGENT_ROOT.
fn slot_vars(entry: &Entry, allows: &dyn Fn(&str) -> bool) -> BTreeMap<String, String> {
    let mut vars = slotenv::read_or_written(&entry.root, &entry.env_file, allows, || {
        slot::load(&entry.repo, &entry.name)
            .map(|s| s.env)
            .unwrap_or_default()
    });
    // An environment cannot hold NUL, and the records are NUL-separated.
    vars.retain(|key, value| {
        let ok = !value.contains('\0');
        if !ok {
            eprintln!("git-agent: warning: not exporting {key}: its value holds a NUL byte");
        }
        ok
    });
    vars.insert(SLOT_VAR.into(), entry.name.clone());
    vars.insert(ROOT_VAR.into(), entry.root.to_string_lossy().into_owned());
    vars
}

/// Whether the hook may set or restore `name` (a damaged or forged state must not make it
/// set what the env file could not).
fn restorable(name: &str, allows: &dyn Fn(&str) -> bool) -> bool {
    envfile::valid_name(name)
        && (name == ROOT_VAR || !envfile::dangerous_name(name) || allows(name))
}

/// What leaving `old` and entering `new` changes: the records, in name order, and the state
/// to keep. A variable is restored on leaving only if it still holds what the hook set, so a
/// value the user changed by hand stays; the value before any slot is carried through
/// switches, so leaving the last slot restores the original.
pub fn transition(
    old: Option<&State>,
    new: Option<&Target>,
    allowed: impl Fn(&str) -> bool,
    current: impl Fn(&str) -> Option<OsString>,
) -> (Vec<Record>, Option<State>) {
    let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new();
    if let Some(old) = old {
        for (key, applied) in old.applied.iter().filter(|(k, _)| allowed(k)) {
            if current(key).as_deref() == Some(OsString::from(applied).as_os_str()) {
                wanted.insert(key.clone(), old.prev.get(key).cloned().flatten());
            }
        }
    }
    let state = new.map(|new| {
        let mut prev = BTreeMap::new();
        let mut applied = BTreeMap::new();
        for (key, value) in &new.vars {
            let before = match old {
                Some(old) if old.applied.contains_key(key) => {
                    Some(old.prev.get(key).cloned().flatten())
                }
                _ => match current(key) {
                    None => Some(None),
                    Some(v) => v.into_string().ok().map(Some),
                },
            };
            // A value that is not UTF-8 could not be restored exactly: leave that variable alone.
            let Some(before) = before else {
                eprintln!(
                    "git-agent: warning: not setting {key}: its current value is not UTF-8 text"
                );
                continue;
            };
            prev.insert(key.clone(), before);
            applied.insert(key.clone(), value.clone());
            wanted.insert(key.clone(), Some(value.clone()));
        }
        State {
            root: new.root.clone(),
            slot: new.slot.clone(),
            prev,
            applied,
        }
    });
    let records = wanted
        .into_iter()
        .filter(|(key, value)| {
            current(key).as_deref() != value.as_deref().map(OsString::from).as_deref()
        })
        .collect();
    (records, state)
}

fn push_record(out: &mut String, key: &str, value: Option<&str>) {
    match value {
        Some(value) => {
            out.push_str("set\0");
            out.push_str(key);
            out.push('\0');
            out.push_str(value);
        }
        None => {
            out.push_str("unset\0");
            out.push_str(key);
        }
    }
    out.push('\0');
}

/// The one line shown on entering, leaving or switching slots.
fn message(old: Option<&State>, new: Option<&Target>) -> Option<String> {
    let entered = |t: &Target| {
        let names: Vec<&str> = t
            .vars
            .keys()
            .map(String::as_str)
            .filter(|k| *k != SLOT_VAR && *k != ROOT_VAR)
            .collect();
        let mut shown: Vec<String> = names.iter().take(8).map(|n| format!("+{n}")).collect();
        if names.len() > 8 {
            shown.push(format!("and {} more", names.len() - 8));
        }
        if shown.is_empty() {
            format!("entered slot {}", t.slot)
        } else {
            format!("entered slot {} ({})", t.slot, shown.join(" "))
        }
    };
    let text = match (old, new) {
        (Some(old), Some(new)) if old.root == new.root => return None,
        (Some(old), Some(new)) => format!("left slot {}, {}", old.slot, entered(new)),
        (None, Some(new)) => entered(new),
        (Some(old), None) => format!("left slot {}", old.slot),
        (None, None) => return None,
    };
    Some(format!("git-agent: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(slot: &str, vars: &[(&str, &str)]) -> Target {
        Target {
            root: PathBuf::from(format!("/w/{slot}")),
            slot: slot.into(),
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).map(OsString::from)
    }

    fn set(k: &str, v: &str) -> Record {
        (k.into(), Some(v.into()))
    }

    #[test]
    fn enter_records_what_was_there() {
        let (records, state) = transition(
            None,
            Some(&target("a", &[("PORT", "3001"), ("X", "1")])),
            |_| true,
            env(&[("PORT", "80")]),
        );
        assert_eq!(records, [set("PORT", "3001"), set("X", "1")]);
        let state = state.unwrap();
        assert_eq!(state.prev["PORT"], Some("80".into()));
        assert_eq!(state.prev["X"], None);
    }

    #[test]
    fn leave_restores_only_what_the_user_did_not_change() {
        let (_, state) = transition(
            None,
            Some(&target("a", &[("PORT", "3001"), ("X", "1"), ("Y", "2")])),
            |_| true,
            env(&[("PORT", "80")]),
        );
        let now = env(&[("PORT", "3001"), ("X", "mine"), ("Y", "2")]);
        let (records, state) = transition(state.as_ref(), None, |_| true, now);
        assert_eq!(records, [set("PORT", "80"), ("Y".into(), None)]);
        assert!(state.is_none());
    }

    #[test]
    fn switching_keeps_the_value_from_before_any_slot() {
        let (_, a) = transition(
            None,
            Some(&target("a", &[("PORT", "3001"), ("A", "1")])),
            |_| true,
            env(&[("PORT", "80")]),
        );
        let (records, b) = transition(
            a.as_ref(),
            Some(&target("b", &[("PORT", "3002")])),
            |_| true,
            env(&[("PORT", "3001"), ("A", "1")]),
        );
        assert_eq!(records, [("A".into(), None), set("PORT", "3002")]);
        let (records, _) = transition(b.as_ref(), None, |_| true, env(&[("PORT", "3002")]));
        assert_eq!(records, [set("PORT", "80")]);
    }

    #[test]
    fn a_forged_state_cannot_set_refused_names() {
        let forged = State {
            root: "/w/a".into(),
            slot: "a".into(),
            prev: BTreeMap::from([("LD_PRELOAD".into(), Some("/evil.so".into()))]),
            applied: BTreeMap::from([("LD_PRELOAD".into(), "x".into())]),
        };
        let (records, _) = transition(
            Some(&forged),
            None,
            |k| !envfile::dangerous_name(k),
            env(&[("LD_PRELOAD", "x")]),
        );
        assert!(records.is_empty());
    }

    #[test]
    fn messages() {
        assert_eq!(
            message(None, Some(&target("a", &[("PORT", "1"), (SLOT_VAR, "a")]))).unwrap(),
            "git-agent: entered slot a (+PORT)"
        );
        let (_, a) = transition(None, Some(&target("a", &[])), |_| true, env(&[]));
        assert_eq!(message(a.as_ref(), None).unwrap(), "git-agent: left slot a");
        assert_eq!(message(a.as_ref(), Some(&target("a", &[]))), None);
        assert!(
            message(a.as_ref(), Some(&target("b", &[])))
                .unwrap()
                .starts_with("git-agent: left slot a, entered slot b")
        );
    }
}
