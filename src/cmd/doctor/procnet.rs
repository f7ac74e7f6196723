//! Which processes listen on which TCP ports, from /proc/net/tcp* and /proc/*/fd (Linux).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use crate::registry;

#[derive(Debug, Clone)]
pub(super) struct Process {
    pub(super) pid: u32,
    pub(super) command: String,
    pub(super) cwd: Option<PathBuf>,
    environ: Vec<String>,
}

impl Process {
    /// Started in the slot or by its shell hook/`exec` (which set GIT_AGENT_ROOT/SLOT).
    pub(super) fn belongs_to(&self, entry: &registry::Entry) -> bool {
        let root = entry.root.to_string_lossy();
        let in_slot = self.cwd.as_ref().is_some_and(|c| {
            c.starts_with(&entry.root)
                || std::fs::canonicalize(&entry.root).is_ok_and(|r| c.starts_with(r))
        });
        in_slot
            || self
                .environ
                .iter()
                .any(|v| v.strip_prefix("GIT_AGENT_ROOT=") == Some(&root))
    }
}

/// The processes listening on each TCP port, from /proc (Linux). `None` elsewhere.
pub(super) fn listeners() -> Option<HashMap<u16, Vec<Process>>> {
    let mut by_inode: HashMap<u64, u16> = HashMap::new();
    let mut any_table = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        any_table = true;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let Some(port) = fields[1]
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            else {
                continue;
            };
            if let Ok(inode) = fields[9].parse::<u64>() {
                by_inode.insert(inode, port);
            }
        }
    }
    if !any_table {
        return None;
    }
    let mut found: BTreeMap<u16, Vec<Process>> = BTreeMap::new();
    let mut seen: HashSet<(u16, u32)> = HashSet::new();
    let procs = std::fs::read_dir("/proc").ok()?;
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            let Some(inode) = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if let Some(port) = by_inode.get(&inode)
                && seen.insert((*port, pid))
            {
                found.entry(*port).or_default().push(process(pid));
            }
        }
    }
    Some(found.into_iter().collect())
}

fn process(pid: u32) -> Process {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let command = std::fs::read(base.join("cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let environ = std::fs::read(base.join("environ"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Process {
        pid,
        command,
        cwd: std::fs::read_link(base.join("cwd")).ok(),
        environ,
    }
}
