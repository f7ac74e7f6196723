//! Shell integration: the scripts `git agent init` prints (sources in `shell/`, embedded at
//! build time), and the directive file through which `add` and `cd` move the user's shell.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::Shell;
use crate::{fsutil, quote};

const HOOK_BASH: &str = include_str!("../shell/hook.bash");
const HOOK_ZSH: &str = include_str!("../shell/hook.zsh");
const HOOK_FISH: &str = include_str!("../shell/hook.fish");
const COMPLETE_BASH: &str = include_str!("../shell/complete.bash");
const COMPLETE_ZSH: &str = include_str!("../shell/complete.zsh");
const COMPLETE_FISH: &str = include_str!("../shell/complete.fish");

/// The variable naming this shell's directive file; set by the init script.
pub const DIRECTIVE_VAR: &str = "GIT_AGENT_DIRECTIVE";

/// The completion glue alone: what `completions/` holds and packagers install. It calls
/// `git-agent` from `PATH` (or `$__git_agent_bin` when the init script set it).
pub fn completion_script(shell: Shell) -> String {
    match shell {
        Shell::Bash => COMPLETE_BASH.to_string(),
        // An autoloaded `_git-agent` file is the function's body: define it, then call it.
        Shell::Zsh => format!("{COMPLETE_ZSH}\n_git-agent \"$@\"\n"),
        Shell::Fish => COMPLETE_FISH.to_string(),
    }
}

/// The whole init script: hook, directive and completion glue, with the binary's own path
/// (so the hook runs exactly this binary), the roots file and the directive directory baked in.
pub fn init_script(shell: Shell, bin: &Path, roots: &Path, directive_dir: &Path) -> String {
    let q = |p: &Path| match shell {
        Shell::Fish => quote::fish(&p.to_string_lossy()),
        Shell::Bash | Shell::Zsh => quote::posix(&p.to_string_lossy()),
    };
    let (hook, completion) = match shell {
        Shell::Bash => (HOOK_BASH, COMPLETE_BASH.to_string()),
        Shell::Zsh => (
            HOOK_ZSH,
            format!(
                "{COMPLETE_ZSH}\nif (($+functions[compdef])); then\n  compdef _git-agent git-agent\nfi\n"
            ),
        ),
        Shell::Fish => (HOOK_FISH, COMPLETE_FISH.to_string()),
    };
    let hook = hook
        .replace("@BIN@", &q(bin))
        .replace("@ROOTS@", &q(roots))
        .replace("@DIRECTIVE_DIR@", &q(directive_dir));
    format!("{hook}\n{completion}")
}

/// Where shells' directive files live: the per-user runtime dir when there is one (a tmpfs
/// emptied at logout), else git-agent's state dir. Both belong to the user alone.
pub fn directive_dir() -> Result<PathBuf> {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Ok(dir.join("git-agent")),
        _ => Ok(crate::paths::state_dir()?.join("run")),
    }
}

/// The directive file of the interactive shell that runs us, if shell integration is active
/// and the command was typed at that shell's prompt: stdin and stdout a terminal (not
/// `$(git agent add x)`, not `git agent add x | cat`), and that shell our parent (perhaps
/// through git). Programs the shell started, such as an agent, inherit the variable, and
/// must not make it jump.
fn directive_file() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os(DIRECTIVE_VAR)?);
    let shell_pid: u32 = path
        .file_name()?
        .to_str()?
        .strip_prefix("cd.")?
        .parse()
        .ok()?;
    let typed = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    (path.is_absolute() && typed && started_by(shell_pid)).then_some(path)
}

/// Whether `shell_pid` started this process, directly or through `git` (`git agent ...`).
/// Where there is no /proc to tell, the terminal check alone decides.
fn started_by(shell_pid: u32) -> bool {
    if !Path::new("/proc/self/stat").exists() {
        return true;
    }
    let mut pid = std::process::id();
    // A few levels: git may run us through its own helper processes.
    for _ in 0..4 {
        let Some(parent) = parent_of(pid) else {
            return false;
        };
        if parent == shell_pid {
            return true;
        }
        let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).unwrap_or_default();
        if comm.trim_end() != "git" {
            return false;
        }
        pid = parent;
    }
    false
}

/// The parent pid from `/proc/PID/stat` ("pid (comm) state ppid ..."; comm may hold spaces
/// and parentheses, so read after the last `)`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Asks the shell to change to `dir` before its next prompt. Returns false (and writes
/// nothing) when no shell integration is listening.
pub fn send_cd(dir: &Path) -> Result<bool> {
    let Some(file) = directive_file() else {
        return Ok(false);
    };
    let parent = file
        .parent()
        .context("the directive file has no directory")?;
    fsutil::create_private_dir(parent)?;
    remove_stale(parent, &file);
    // Where the shell is now, for `git agent cd -` to go back to.
    if let Some(here) = shell_dir().filter(|here| !fsutil::same_path(here, dir)) {
        fsutil::write_atomic(&previous_file(&file), here.as_os_str().as_encoded_bytes())?;
    }
    fsutil::write_atomic(&file, dir.as_os_str().as_encoded_bytes())?;
    Ok(true)
}

/// Where `git agent add` or `cd` last moved this shell from (`git agent cd -` goes there),
/// when shell integration is active and the command was typed at its prompt.
pub fn previous() -> Option<Result<PathBuf>> {
    let file = directive_file()?;
    Some(match std::fs::read(previous_file(&file)) {
        Ok(bytes) => Ok(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())),
        Err(_) => Err(anyhow::anyhow!(
            "this shell has not been moved by `git agent add` or `git agent cd` yet, so there is no previous slot"
        )),
    })
}

fn previous_file(directive: &Path) -> PathBuf {
    let mut name = directive.as_os_str().to_owned();
    name.push(".prev");
    PathBuf::from(name)
}

/// The shell's current directory: `$PWD` when it names where we run, as the shell has it.
fn shell_dir() -> Option<PathBuf> {
    let real = std::env::current_dir().ok()?;
    match std::env::var_os("PWD").map(PathBuf::from) {
        Some(pwd) if pwd.is_absolute() && fsutil::same_path(&pwd, &real) => Some(pwd),
        _ => Some(real),
    }
}

/// Removes the directive files of shells that have exited (their pid is gone). Only where
/// `/proc` tells; elsewhere the files are empty and harmless.
fn remove_stale(dir: &Path, keep: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cd."))
            .map(|n| n.trim_end_matches(".prev"))
        else {
            continue;
        };
        if path != keep && pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_scripts_quote_the_paths_they_embed() {
        let odd = Path::new("/tmp/it's a \\ dir");
        let bash = init_script(Shell::Bash, odd, Path::new("/r"), Path::new("/d"));
        assert!(
            bash.contains(r"__git_agent_bin='/tmp/it'\''s a \ dir'"),
            "{bash}"
        );
        let fish = init_script(Shell::Fish, odd, Path::new("/r"), Path::new("/d"));
        assert!(
            fish.contains(r"set -g __git_agent_bin '/tmp/it\'s a \\ dir'"),
            "{fish}"
        );
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = init_script(shell, odd, Path::new("/r"), Path::new("/d"));
            for placeholder in ["@BIN@", "@ROOTS@", "@DIRECTIVE_DIR@"] {
                assert!(
                    !text.contains(placeholder),
                    "{placeholder} left in the {shell:?} script"
                );
            }
        }
    }
}
