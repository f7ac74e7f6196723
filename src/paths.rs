//! Where the user's own files live: config and machine-wide state.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use directories::ProjectDirs;

fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "git-agent")
}

/// `$XDG_CONFIG_HOME/git-agent` on Linux.
pub fn config_dir() -> Option<PathBuf> {
    project().map(|p| p.config_dir().to_path_buf())
}

/// `$XDG_STATE_HOME/git-agent` on Linux; the data-local dir where a platform has no state dir.
pub fn state_dir() -> Result<PathBuf> {
    let project =
        project().ok_or_else(|| anyhow!("could not find the home directory; set HOME"))?;
    Ok(project
        .state_dir()
        .unwrap_or_else(|| project.data_local_dir())
        .to_path_buf())
}
