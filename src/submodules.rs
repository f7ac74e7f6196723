//! Submodules in a new slot: `git worktree add` leaves them as empty directories, which a
//! build then fails on far from the cause. `add` says which ones and the command that fills
//! them, rather than fetching them itself (that may need the network and credentials).

use std::path::Path;

/// The submodules (paths from `.gitmodules`) that are checked out in the main worktree but
/// empty in the slot.
pub fn left_empty(main_worktree: &Path, slot: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(slot.join(".gitmodules")) else {
        return Vec::new();
    };
    paths(&text)
        .into_iter()
        .filter(|rel| is_empty_dir(&slot.join(rel)) && !is_empty_dir(&main_worktree.join(rel)))
        .collect()
}

/// The `path = ...` values of a `.gitmodules` text.
fn paths(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "path").then(|| value.trim().to_string())
        })
        .filter(|path| !path.is_empty())
        .collect()
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_are_read_from_gitmodules() {
        let text = "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n[submodule \"x\"]\npath=x\n";
        assert_eq!(super::paths(text), ["vendor/lib", "x"]);
    }
}
