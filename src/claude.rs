//! Claude Code's worktree hooks. `claude --worktree NAME` runs a `WorktreeCreate` hook instead
//! of its own `git worktree add` when one is configured: the hook gets a JSON payload on stdin
//! (the name in `name` or `worktree_name`, depending on the version, plus `cwd` and
//! `base_commit`) and must print only the worktree's absolute path on stdout. `WorktreeRemove`
//! gets `worktree_path`. git-agent's handlers make and remove slots there, and `install`
//! writes them into the repository's `.claude/settings.local.json`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

/// The hook events and the `git-agent` subcommand that handles each.
pub const EVENTS: [(&str, &str); 2] = [
    ("WorktreeCreate", "worktree-create"),
    ("WorktreeRemove", "worktree-remove"),
];

/// How long Claude Code may wait for a handler: a slot's setup (`npm ci`, a database clone)
/// can take minutes, longer than its default.
const TIMEOUT_SECONDS: u64 = 600;

/// What a `WorktreeCreate` payload asks for.
#[derive(Debug, PartialEq)]
pub struct Create {
    pub name: String,
    pub cwd: Option<PathBuf>,
    pub base_commit: Option<String>,
}

/// What a `WorktreeRemove` payload asks for.
#[derive(Debug, PartialEq)]
pub struct Remove {
    pub worktree_path: PathBuf,
    pub cwd: Option<PathBuf>,
}

/// Reads exactly one JSON object from `input` and stops at its closing brace: Claude Code
/// may keep stdin open, so waiting for it to close would hang the hook.
pub fn read_payload(input: &mut impl BufRead) -> Result<Map<String, Value>> {
    let mut values = serde_json::Deserializer::from_reader(input).into_iter::<Value>();
    match values.next() {
        Some(Ok(Value::Object(map))) => Ok(map),
        Some(Ok(other)) => bail!("the hook payload on stdin is not a JSON object: {other}"),
        Some(Err(e)) => bail!("the hook payload on stdin is not valid JSON: {e}"),
        None => bail!("no hook payload on stdin (Claude Code sends one JSON object)"),
    }
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Create {
    pub fn from_payload(map: &Map<String, Value>) -> Result<Create> {
        let Some(name) = text(map, "name").or_else(|| text(map, "worktree_name")) else {
            bail!("the WorktreeCreate payload has no `name` (nor `worktree_name`)");
        };
        Ok(Create {
            name,
            cwd: text(map, "cwd").map(PathBuf::from),
            base_commit: text(map, "base_commit"),
        })
    }
}

impl Remove {
    pub fn from_payload(map: &Map<String, Value>) -> Result<Remove> {
        let Some(path) = text(map, "worktree_path") else {
            bail!("the WorktreeRemove payload has no `worktree_path`");
        };
        Ok(Remove {
            worktree_path: PathBuf::from(path),
            cwd: text(map, "cwd").map(PathBuf::from),
        })
    }
}

/// The settings file the hooks go into: the repository's own, not committed.
pub fn settings_file(main_worktree: &Path) -> PathBuf {
    main_worktree.join(".claude").join("settings.local.json")
}

/// The command line of a handler: this binary, by its absolute path (Claude Code runs hooks
/// with `sh`, and its PATH may not be the shell's).
pub fn handler_command(bin: &Path, subcommand: &str) -> String {
    format!(
        "{} claude {subcommand}",
        crate::quote::posix(&bin.to_string_lossy())
    )
}

/// Whether a hook entry's command is one of git-agent's handlers (from any install of it).
fn is_ours(command: &str, subcommand: &str) -> bool {
    command.contains("git-agent")
        && command
            .trim_end()
            .ends_with(&format!(" claude {subcommand}"))
}

/// The settings with git-agent's two handlers in them, replacing earlier ones of git-agent and
/// keeping everything else. Also returns the commands of other `WorktreeCreate` hooks, which
/// Claude Code would run as well.
pub fn merge(settings: Value, bin: &Path) -> Result<(Value, Vec<String>)> {
    let mut settings = match settings {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => bail!("the settings are not a JSON object: {other}"),
    };
    let hooks = settings
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(hooks) = hooks else {
        bail!("`hooks` in the settings is not a JSON object");
    };
    let mut others = Vec::new();
    for (event, subcommand) in EVENTS {
        let groups = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(groups) = groups else {
            bail!("`hooks.{event}` in the settings is not a JSON array");
        };
        for group in groups.iter_mut() {
            if let Some(Value::Array(list)) = group.get_mut("hooks") {
                list.retain(|h| {
                    let command = h.get("command").and_then(Value::as_str).unwrap_or("");
                    let ours = is_ours(command, subcommand);
                    if !ours && event == "WorktreeCreate" && !command.is_empty() {
                        others.push(command.to_string());
                    }
                    !ours
                });
            }
        }
        groups.retain(|g| {
            g.get("hooks")
                .and_then(Value::as_array)
                .is_none_or(|l| !l.is_empty())
        });
        groups.push(json!({
            "hooks": [{
                "type": "command",
                "command": handler_command(bin, subcommand),
                "timeout": TIMEOUT_SECONDS,
            }]
        }));
    }
    Ok((Value::Object(settings), others))
}

/// Reads a settings file: missing or empty is none; anything but a JSON object is an error
/// naming the file, so nothing of the user's is overwritten.
pub fn read_settings(path: &Path) -> Result<Value> {
    let Some(text) = crate::fsutil::read_if_exists(path)? else {
        return Ok(Value::Null);
    };
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not valid JSON; fix it (or move it away), then run this again",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_is_read_without_waiting_for_the_end() {
        // Bytes after the object (or none, and no end) are never read for.
        let mut input = std::io::BufReader::new(&b"{\"name\":\"x\",\"cwd\":\"/r\"}\n{garbage"[..]);
        let map = read_payload(&mut input).unwrap();
        assert_eq!(
            Create::from_payload(&map).unwrap(),
            Create {
                name: "x".into(),
                cwd: Some("/r".into()),
                base_commit: None
            }
        );
        let map =
            read_payload(&mut &b"{\"worktree_name\":\"y\",\"base_commit\":\"abc\"}"[..]).unwrap();
        let create = Create::from_payload(&map).unwrap();
        assert_eq!(
            (create.name.as_str(), create.base_commit.as_deref()),
            ("y", Some("abc"))
        );
        assert!(read_payload(&mut &b"[1]"[..]).is_err());
        assert!(read_payload(&mut &b""[..]).is_err());
        assert!(Create::from_payload(&Map::new()).is_err());
    }

    #[test]
    fn merging_keeps_the_users_settings_and_is_idempotent() {
        let bin = Path::new("/opt/bin/git-agent");
        let user = json!({
            "permissions": {"allow": ["Bash(npm test)"]},
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint"}]}],
                "WorktreeCreate": [{"hooks": [{"type": "command", "command": "/old/git-agent claude worktree-create"}]}]
            }
        });
        let (once, others) = merge(user.clone(), bin).unwrap();
        assert!(others.is_empty());
        assert_eq!(once["permissions"], user["permissions"]);
        assert_eq!(once["hooks"]["PreToolUse"], user["hooks"]["PreToolUse"]);
        let create = once["hooks"]["WorktreeCreate"].as_array().unwrap();
        assert_eq!(create.len(), 1, "the old install is replaced: {once:#}");
        assert_eq!(
            create[0]["hooks"][0]["command"],
            "'/opt/bin/git-agent' claude worktree-create"
        );
        let (twice, _) = merge(once.clone(), bin).unwrap();
        assert_eq!(once, twice);
        let (_, others) = merge(
            json!({"hooks": {"WorktreeCreate": [{"hooks": [{"type": "command", "command": "wtp add"}]}]}}),
            bin,
        )
        .unwrap();
        assert_eq!(others, vec!["wtp add".to_string()]);
        assert!(merge(json!([1]), bin).is_err());
    }
}
