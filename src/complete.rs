//! Tab completion: clap_complete's dynamic engine behind git-aware shell glue (`shell/`), and
//! the candidates for slot and branch names. Completion runs on every TAB, so it opens no gix
//! repository and runs no git: a few directory listings and small file reads.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{EnvCompleter, Shells};

use crate::cli::Shell;

/// The variable that turns a run into a completion request. Not clap's default `COMPLETE`,
/// which a user may well have set for something else.
pub const VAR: &str = "GIT_AGENT_COMPLETE";

/// A shell's adapter: our registration script (which knows `git agent` as well as
/// `git-agent`) in front of clap's protocol for the candidates themselves.
struct Glue {
    shell: Shell,
    clap: &'static (dyn EnvCompleter + Sync),
}

impl EnvCompleter for Glue {
    fn name(&self) -> &'static str {
        self.clap.name()
    }

    fn is(&self, name: &str) -> bool {
        self.clap.is(name)
    }

    fn write_registration(
        &self,
        _var: &str,
        _name: &str,
        _bin: &str,
        _completer: &str,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        buf.write_all(crate::shell::completion_script(self.shell).as_bytes())
    }

    fn write_complete(
        &self,
        cmd: &mut clap::Command,
        args: Vec<std::ffi::OsString>,
        current_dir: Option<&Path>,
        buf: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        self.clap.write_complete(cmd, args, current_dir, buf)
    }
}

static BASH: Glue = Glue {
    shell: Shell::Bash,
    clap: &clap_complete::env::Bash,
};
static ZSH: Glue = Glue {
    shell: Shell::Zsh,
    clap: &clap_complete::env::Zsh,
};
static FISH: Glue = Glue {
    shell: Shell::Fish,
    clap: &clap_complete::env::Fish,
};

/// Answers a completion request and exits, if this run is one; otherwise returns at once.
pub fn complete_if_asked() {
    if std::env::var_os(VAR).is_none() {
        return;
    }
    clap_complete::CompleteEnv::with_factory(command)
        .var(VAR)
        .shells(Shells(&[&BASH, &ZSH, &FISH]))
        .complete();
}

/// The CLI with each command offered under its own name (`ls`, `rm`): clap's engine sorts
/// candidates and keeps one per command, which would be the alias (`list`, `remove`).
fn command() -> clap::Command {
    let mut cmd = crate::cli::Cli::command();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| {
            // The process answers one request and exits, so these few names may live forever.
            let aliases: Vec<&'static str> = sub
                .get_all_aliases()
                .map(|a| &*Box::leak(a.into()))
                .collect();
            sub.visible_alias(None).aliases(aliases)
        });
    }
    cmd
}

/// The slots of the repository around the current directory, with their branch as help.
pub fn slots() -> Vec<CompletionCandidate> {
    let Some(common) = common_dir() else {
        return vec![];
    };
    slots_dir_names(&common)
        .into_iter()
        .map(|name| {
            let branch = crate::slot::load(&common, &name)
                .ok()
                .map(|s| format!("branch {}", s.branch));
            CompletionCandidate::new(name).help(branch.map(Into::into))
        })
        .collect()
}

/// Local branches, and remote-tracking ones as `origin/x`, starting with `current`.
pub fn branches(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(common) = common_dir() else {
        return vec![];
    };
    let prefix = current.to_string_lossy();
    let mut names = Vec::new();
    for namespace in ["refs/heads", "refs/remotes"] {
        loose_refs(&common.join(namespace), namespace, &mut names);
    }
    if let Ok(packed) = std::fs::read_to_string(common.join("packed-refs")) {
        for line in packed.lines().filter(|l| !l.starts_with(['#', '^'])) {
            if let Some((_, name)) = line.split_once(' ') {
                names.push(name.to_string());
            }
        }
    }
    let mut out: Vec<String> = names
        .iter()
        .filter_map(|r| {
            r.strip_prefix("refs/heads/").or_else(|| {
                r.strip_prefix("refs/remotes/")
                    .filter(|n| !n.ends_with("/HEAD"))
            })
        })
        .filter(|n| n.starts_with(prefix.as_ref()))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out.into_iter().map(CompletionCandidate::new).collect()
}

/// What `add` takes: the slots' names (it goes there) and the branches it can check out, that
/// is all but those checked out in a worktree that is not a slot (it refuses those).
pub fn add_targets(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(common) = common_dir() else {
        return vec![];
    };
    let prefix = current.to_string_lossy();
    let slots: Vec<crate::slot::Slot> = slots_dir_names(&common)
        .iter()
        .filter_map(|name| crate::slot::load(&common, name).ok())
        .collect();
    let taken: Vec<String> = checked_out(&common)
        .into_iter()
        .filter(|b| !slots.iter().any(|s| &s.branch == b))
        .collect();
    let mut out: Vec<CompletionCandidate> = slots
        .iter()
        .filter(|s| s.name.starts_with(prefix.as_ref()))
        .map(|s| {
            CompletionCandidate::new(s.name.clone())
                .help(Some(format!("slot on branch {}", s.branch).into()))
        })
        .collect();
    for candidate in branches(current) {
        let name = candidate.get_value().to_string_lossy().into_owned();
        if !taken.contains(&name) && !slots.iter().any(|s| s.name == name) {
            out.push(candidate);
        }
    }
    out
}

/// The branches checked out in the repository's worktrees: the main one's (a bare
/// repository's HEAD is not a checkout) and every linked one's.
fn checked_out(common: &Path) -> Vec<String> {
    let bare = std::fs::read_to_string(common.join("config")).is_ok_and(|text| {
        text.lines()
            .any(|l| l.replace(' ', "").eq_ignore_ascii_case("bare=true"))
    });
    let mut heads = Vec::new();
    if !bare {
        heads.push(common.join("HEAD"));
    }
    if let Ok(entries) = std::fs::read_dir(common.join("worktrees")) {
        heads.extend(entries.flatten().map(|e| e.path().join("HEAD")));
    }
    heads
        .iter()
        .filter_map(|h| std::fs::read_to_string(h).ok())
        .filter_map(|t| {
            t.trim()
                .strip_prefix("ref: refs/heads/")
                .map(str::to_string)
        })
        .collect()
}

/// The names of the slot records of a repository.
fn slots_dir_names(common: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(crate::slot::slots_dir(common)) else {
        return vec![];
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_string)
        })
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Ref names of the loose refs under `dir`, which holds the namespace `prefix`.
fn loose_refs(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let full = format!("{prefix}/{name}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => loose_refs(&entry.path(), &full, out),
            Ok(_) if !name.ends_with(".lock") => out.push(full),
            _ => {}
        }
    }
}

/// The git common dir for the current directory, found the way git does for the usual
/// layouts (`$GIT_DIR`, a `.git` directory or `gitdir:` file in an ancestor, a bare
/// repository) with a few stats and small reads.
fn common_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let git_dir = match std::env::var_os("GIT_DIR") {
        Some(dir) => cwd.join(dir),
        None => cwd.ancestors().find_map(git_dir_at)?,
    };
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(text) => git_dir.join(text.trim_end_matches(['\n', '\r'])),
        Err(_) => git_dir,
    };
    std::fs::canonicalize(common).ok()
}

fn git_dir_at(dir: &Path) -> Option<PathBuf> {
    let dot_git = dir.join(".git");
    let meta = std::fs::metadata(&dot_git).ok();
    match meta {
        Some(m) if m.is_dir() => Some(dot_git),
        Some(_) => {
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text.strip_prefix("gitdir:")?.trim();
            Some(dir.join(target))
        }
        None if dir.join("HEAD").is_file()
            && dir.join("objects").is_dir()
            && dir.join("refs").is_dir() =>
        {
            Some(dir.to_path_buf())
        }
        None => None,
    }
}
