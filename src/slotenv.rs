//! A slot's environment as programs see it: the whole env file (the managed block and the
//! user's own lines), read as data, with dangerous names removed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::envfile;

/// Reads the env file at `root/env_file` and drops names that could take over a shell or a
/// process, unless `allowed` says the user allowed them. Returns the variables and the names
/// that were dropped.
pub fn read(
    root: &Path,
    env_file: &str,
    allowed: impl Fn(&str) -> bool,
) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let all = envfile::load(&root.join(env_file))?;
    Ok(filter(all, allowed))
}

/// The slot's variables for a shell or a program, with warnings on stderr: the env file read
/// as data and filtered; when it cannot be read, the block git-agent wrote (from `written`,
/// called only then), filtered the same way.
pub fn read_or_written(
    root: &Path,
    env_file: &str,
    allowed: impl Fn(&str) -> bool,
    written: impl FnOnce() -> BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let (vars, dropped) = match read(root, env_file, &allowed) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("git-agent: warning: {e:#}; using the variables git-agent wrote");
            filter(written(), &allowed)
        }
    };
    for name in dropped {
        eprintln!(
            "git-agent: warning: not exporting {name} from {}: it could take over the shell or programs (allow it in your config's [trust] allow_env)",
            root.join(env_file).display()
        );
    }
    vars
}

pub fn filter(
    all: BTreeMap<String, String>,
    allowed: impl Fn(&str) -> bool,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut kept = BTreeMap::new();
    let mut dropped = Vec::new();
    for (key, value) in all {
        if envfile::dangerous_name(&key) && !allowed(&key) {
            dropped.push(key);
        } else {
            kept.insert(key, value);
        }
    }
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_file_falls_back_to_the_written_block_filtered_the_same_way() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env.local"), "not an assignment\n").unwrap();
        let written = BTreeMap::from([
            ("PORT".to_string(), "3001".to_string()),
            ("LD_PRELOAD".to_string(), "/x.so".to_string()),
        ]);
        let vars = read_or_written(dir.path(), ".env.local", |_| false, || written.clone());
        assert_eq!(
            vars,
            BTreeMap::from([("PORT".to_string(), "3001".to_string())])
        );
        std::fs::write(dir.path().join(".env.local"), "A=1\nLD_PRELOAD=/y.so\n").unwrap();
        let vars = read_or_written(
            dir.path(),
            ".env.local",
            |n| n == "LD_PRELOAD",
            BTreeMap::new,
        );
        assert_eq!(vars["LD_PRELOAD"], "/y.so");
        assert_eq!(vars["A"], "1");
    }
}
