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
