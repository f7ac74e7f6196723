//! A worktree's uncommitted state: staged, modified, untracked and ignored paths, which
//! removal checks before it deletes anything.

use std::path::Path;

use anyhow::Result;

use super::{git_in, run};

/// What `git status` says about a worktree, for `rm`'s safety check.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub staged: Vec<String>,
    pub modified: Vec<String>,
    pub untracked: Vec<String>,
    pub ignored: Vec<String>,
}

impl Changes {
    pub fn is_clean(&self) -> bool {
        self.staged.is_empty() && self.modified.is_empty() && self.untracked.is_empty()
    }
}

/// Lists changes in a worktree with the git binary (the reference for what `git worktree
/// remove` will refuse), including ignored files that removing it would destroy.
pub fn changes(dir: &Path) -> Result<Changes> {
    let mut cmd = git_in(dir);
    cmd.args([
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=matching",
    ]);
    let text = run(cmd)?;
    let mut changes = Changes::default();
    let mut records = text.split('\0');
    while let Some(record) = records.next() {
        if record.len() < 4 {
            continue;
        }
        let (code, path) = record.split_at(3);
        let path = path.to_string();
        let bytes = code.as_bytes();
        match (bytes[0], bytes[1]) {
            (b'?', b'?') => changes.untracked.push(path),
            (b'!', b'!') => changes.ignored.push(path),
            (index, worktree) => {
                if index != b' ' {
                    changes.staged.push(path.clone());
                }
                if worktree != b' ' {
                    changes.modified.push(path);
                }
                if index == b'R' || index == b'C' {
                    records.next(); // the rename's source path
                }
            }
        }
    }
    Ok(changes)
}
