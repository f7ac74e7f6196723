//! Machine-wide checks: the installed git and the shell integration (`git agent init`).

use std::path::PathBuf;
use std::process::Command;

use super::report::{Level, Report};
use crate::registry;

/// The oldest git whose worktree commands git-agent relies on (`git worktree remove`).
const MIN_GIT: (u32, u32) = (2, 17);

pub(super) fn check_git(report: &mut Report) {
    let out = Command::new("git").arg("--version").output();
    let Ok(out) = out
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    else {
        report.fix(
            "git",
            Level::Error,
            "git is not installed or not on PATH",
            "install git (Debian/Ubuntu: apt install git; macOS: brew install git)",
        );
        return;
    };
    let version = out.trim_start_matches("git version ").to_string();
    let mut numbers = version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if found < MIN_GIT {
        report.fix(
            "git",
            Level::Error,
            format!(
                "git {version} is older than {}.{}, which `git worktree remove` needs",
                MIN_GIT.0, MIN_GIT.1
            ),
            "upgrade git",
        );
    } else {
        report.add("git", Level::Ok, format!("git {version}"));
    }
}

/// The shell that runs us, as the user would name it for `init`.
fn user_shell() -> &'static str {
    let shell = std::env::var("SHELL").unwrap_or_default();
    if shell.ends_with("zsh") {
        "zsh"
    } else if shell.ends_with("fish") {
        "fish"
    } else {
        "bash"
    }
}

fn init_fix(shell: &str) -> String {
    match shell {
        "zsh" => "echo 'eval \"$(git agent init zsh)\"' >> ~/.zshrc, then open a new shell".into(),
        "fish" => "echo 'git agent init fish | source' >> ~/.config/fish/config.fish, then open a new shell".into(),
        _ => "echo 'eval \"$(git agent init bash)\"' >> ~/.bashrc, then open a new shell".into(),
    }
}

pub(super) fn check_shell(report: &mut Report) {
    let shell = user_shell();
    let Some(directive) = std::env::var_os(crate::shell::DIRECTIVE_VAR).map(PathBuf::from) else {
        report.fix(
            "shell",
            Level::Warning,
            "shell integration is not active in this shell: no env on cd, no cd after add",
            init_fix(shell),
        );
        return;
    };
    // The init script names the file after its shell's pid: the nearest shell above us must be
    // that one, or the variable was only inherited by a shell without the hook.
    let hooked: Option<u32> = directive
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("cd."))
        .and_then(|n| n.parse().ok());
    match (hooked, nearest_shell()) {
        (Some(hooked), Some((pid, name))) if hooked != pid => {
            report.fix(
                "shell",
                Level::Warning,
                format!(
                    "shell integration is active in a parent shell (pid {hooked}) but not in this {name} (pid {pid})"
                ),
                init_fix(&name),
            );
            return;
        }
        _ => report.add(
            "shell",
            Level::Ok,
            "shell integration is active in this shell",
        ),
    }
    // Inside a slot, the hook should have exported its variables.
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    let Ok(registry) = registry::load() else {
        return;
    };
    let Some(entry) = registry
        .slots
        .iter()
        .filter(|e| {
            cwd.starts_with(&e.root)
                || std::fs::canonicalize(&e.root).is_ok_and(|r| cwd.starts_with(r))
        })
        .max_by_key(|e| e.root.as_os_str().len())
    else {
        return;
    };
    let root = std::env::var_os("GIT_AGENT_ROOT").map(PathBuf::from);
    if root.as_deref() != Some(entry.root.as_path()) {
        report.fix(
            "shell",
            Level::Warning,
            format!("this directory is in slot {}, but the shell has not exported its variables", entry.name),
            "cd out of the slot and back in; if that does not help, check that the shell runs the init script",
        );
    }
}

/// The closest ancestor process that is a shell, with its name (Linux: from /proc).
fn nearest_shell() -> Option<(u32, String)> {
    let mut pid = std::process::id();
    for _ in 0..16 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The name is in parentheses and may itself hold spaces or parentheses.
        let (_, rest) = stat.rsplit_once(')')?;
        let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        if ppid <= 1 {
            return None;
        }
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
        let comm = comm.trim().trim_start_matches('-').to_string();
        if matches!(comm.as_str(), "bash" | "zsh" | "fish" | "sh" | "dash") {
            return Some((ppid, comm));
        }
        pid = ppid;
    }
    None
}

/// Whether this build's man pages are where `git agent --help` (man) finds them.
pub(super) fn check_man(report: &mut Report) {
    match crate::man::current() {
        Some(dir) => match crate::man::manpath_note(&dir) {
            Some(note) => report.fix(
                "man",
                Level::Warning,
                format!("the man pages are in {}, but {note}", dir.display()),
                format!(
                    "export MANPATH=\"$MANPATH:{}\"",
                    dir.parent().unwrap_or(&dir).display()
                ),
            ),
            None => report.add("man", Level::Ok, format!("man pages in {}", dir.display())),
        },
        None => report.fix(
            "man",
            Level::Warning,
            "this build's man pages are not installed, so `git agent --help` finds no page \
             (`git agent init` writes them beside the binary when it can)",
            "git agent install-man (or --dir DIR, a directory on your MANPATH)",
        ),
    }
}
