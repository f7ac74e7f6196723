//! What to call a process, and whether it is a coding agent: from its name and command line,
//! so any agent CLI is recognised without a plugin, and an unknown one still shows as the
//! command it runs.

use std::path::Path;

/// Coding-agent CLIs, by the name their process runs under (the program, or the script an
/// interpreter runs: `node .../bin/gemini`). An agent not listed still shows, by its command.
const AGENTS: &[&str] = &[
    "claude",
    "codex",
    "aider",
    "gemini",
    "opencode",
    "cursor-agent",
    "goose",
    "amp",
    "crush",
    "qwen",
    "copilot",
    "cline",
    "droid",
    "kiro-cli",
    "auggie",
    "plandex",
    "openhands",
    "kilocode",
];

/// Programs that run a script named by their arguments; the script says what runs.
const INTERPRETERS: &[&str] = &[
    "node", "nodejs", "bun", "deno", "python", "python3", "ruby", "perl", "php",
];

/// Interactive shells: a terminal standing in a slot, not what works there.
const SHELLS: &[&str] = &[
    "bash", "zsh", "fish", "sh", "dash", "ksh", "tcsh", "csh", "nu", "pwsh", "elvish", "xonsh",
];

/// Script file names that say nothing by themselves (`.../claude-code/cli.js`): the
/// directory above names the program.
const GENERIC_SCRIPTS: &[&str] = &["index", "cli", "main", "run", "start", "bin", "dist"];

/// The name to show for a process: its program, or for an interpreter the script or module
/// it runs (`python3 -m http.server` is `http.server`, `node /usr/bin/gemini` is `gemini`).
pub fn display_name(name: &str, cmd: &[String]) -> String {
    let program = cmd
        .first()
        .map(|a| base_name(a))
        .filter(|b| !b.is_empty())
        .unwrap_or_default();
    // The kernel keeps 15 bytes of a name; the command line has all of it.
    let name = if program.starts_with(name) && !program.is_empty() {
        program.clone()
    } else {
        name.to_string()
    };
    if (is_interpreter(&name) || is_interpreter(&program))
        && let Some(script) = script_of(&cmd[1.min(cmd.len())..])
    {
        return script;
    }
    name
}

/// The agent a process is, if its name (or the script it runs) is a known agent CLI's.
pub fn agent(name: &str, display: &str, cmd: &[String]) -> Option<&'static str> {
    let mut candidates = vec![name.to_string(), display.to_string()];
    if let Some(first) = cmd.first() {
        candidates.push(base_name(first));
    }
    for candidate in candidates {
        let candidate = strip_extension(&candidate.to_ascii_lowercase()).to_string();
        for known in AGENTS {
            // `claude-code`, `gemini-cli`: the agent's name and a suffix.
            if candidate == *known
                || candidate
                    .strip_prefix(known)
                    .is_some_and(|r| r.starts_with('-'))
            {
                return Some(known);
            }
        }
    }
    None
}

pub fn is_shell(name: &str) -> bool {
    let name = name.trim_start_matches('-');
    SHELLS.contains(&name)
}

fn is_interpreter(name: &str) -> bool {
    let name = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    INTERPRETERS.contains(&name)
}

/// The script or module an interpreter runs, from its arguments.
fn script_of(args: &[String]) -> Option<String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-m" {
            return args.next().cloned();
        }
        // Inline code (`python3 -c '...'`, `node -e '...'`) names nothing: the interpreter it is.
        if ["-c", "-e", "--eval", "-p", "--print"].contains(&arg.as_str()) {
            return None;
        }
        if let Some(module) = arg.strip_prefix("-m").filter(|m| !m.is_empty()) {
            return Some(module.to_string());
        }
        if arg.starts_with('-') {
            continue;
        }
        let path = Path::new(arg);
        let stem = strip_extension(&base_name(arg)).to_string();
        if !GENERIC_SCRIPTS.contains(&stem.as_str()) {
            return Some(stem);
        }
        // `.../claude-code/cli.js`, `.../pkg/dist/index.js`: the first telling directory.
        return path
            .ancestors()
            .skip(1)
            .filter_map(|a| a.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .find(|n| !GENERIC_SCRIPTS.contains(&n.as_str()));
    }
    None
}

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn strip_extension(name: &str) -> &str {
    for ext in [".js", ".mjs", ".cjs", ".ts", ".py", ".rb", ".pl", ".php"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn names_say_what_runs() {
        assert_eq!(
            display_name("python3", &cmd("python3 -m http.server 3001")),
            "http.server"
        );
        assert_eq!(
            display_name("node", &cmd("node /usr/local/bin/gemini --yolo")),
            "gemini"
        );
        assert_eq!(
            display_name(
                "node",
                &cmd("node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js")
            ),
            "claude-code"
        );
        assert_eq!(
            display_name("node", &cmd("node --inspect dist/index.js")),
            "node"
        );
        assert_eq!(display_name("vite", &cmd("vite --port 3001")), "vite");
        // A name the kernel cut at 15 bytes comes back whole from the command line.
        assert_eq!(
            display_name("very-long-progr", &cmd("/opt/very-long-program-name --x")),
            "very-long-program-name"
        );
        assert_eq!(display_name("sleep", &[]), "sleep");
    }

    #[test]
    fn agents_are_known_by_any_of_their_names() {
        assert_eq!(agent("claude", "claude", &cmd("claude")), Some("claude"));
        assert_eq!(
            agent("node", "claude-code", &cmd("node cli.js")),
            Some("claude")
        );
        assert_eq!(
            agent("node", "gemini", &cmd("node /usr/bin/gemini")),
            Some("gemini")
        );
        assert_eq!(
            agent("python3", "aider", &cmd("python3 /usr/bin/aider")),
            Some("aider")
        );
        assert_eq!(
            agent("cursor-agent", "cursor-agent", &[]),
            Some("cursor-agent")
        );
        assert_eq!(agent("node", "vite", &cmd("node vite")), None);
        assert_eq!(agent("claudette", "claudette", &[]), None);
        assert!(is_shell("-bash") && is_shell("zsh") && !is_shell("node"));
    }
}
