//! The slot's env file (`.env.local` by default): a block git-agent owns, between two marker
//! lines, inside a file whose other lines belong to the user and are kept byte for byte.
//! Also the dotenv parser that reads the whole file back as data (never as shell code).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};

pub const BEGIN: &str =
    "# >>> git-agent: managed block, rewritten by `git agent`; put your own lines outside it";
pub const END: &str = "# <<< git-agent";

/// Replaces (or appends) the managed block in `existing`, keeping every other byte.
pub fn with_block(existing: &str, vars: &BTreeMap<String, String>) -> String {
    let mut block = String::new();
    block.push_str(BEGIN);
    block.push('\n');
    // A value Node's readers may read past goes last, so no other variable of the block is in
    // the way.
    let mut lines: Vec<(bool, String)> = vars
        .iter()
        .map(|(key, value)| {
            let written = crate::dotenv_forms::write(value);
            (written.risky, format!("{key}={}\n", written.text))
        })
        .collect();
    lines.sort_by_key(|(risky, _)| *risky);
    for (_, line) in lines {
        block.push_str(&line);
    }
    block.push_str(END);
    block.push('\n');
    match block_range(existing) {
        Some((start, end)) => format!("{}{}{}", &existing[..start], block, &existing[end..]),
        None if existing.is_empty() => block,
        None if existing.ends_with('\n') => format!("{existing}{block}"),
        None => format!("{existing}\n{block}"),
    }
}

/// Removes the managed block, returning what the user wrote. `None` if there was no block.
pub fn without_block(existing: &str) -> Option<String> {
    let (start, end) = block_range(existing)?;
    Some(format!("{}{}", &existing[..start], &existing[end..]))
}

/// Byte range of the managed block including its trailing newline.
fn block_range(text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if start.is_none() && bare.starts_with("# >>> git-agent") {
            start = Some(offset);
        } else if start.is_some() && bare == END {
            return Some((start?, offset + line.len()));
        }
        offset += line.len();
    }
    // An opening marker without its end (the user cut it): treat the rest as ours only if it
    // holds nothing but assignments we could have written. Safer: leave it and append anew.
    None
}

/// Writes a value in the form dotenv readers (git-agent's own always, python-dotenv, Node
/// dotenv, dotenv-expand and Next.js wherever one form serves them) read back unchanged.
pub fn quote_value(value: &str) -> String {
    crate::dotenv_forms::write(value).text
}

/// Says on stderr which variables of the block some dotenv readers will read as another value.
pub fn warn_misread(env_file: &str, vars: &BTreeMap<String, String>) {
    for misread in crate::dotenv_forms::misread(vars) {
        eprintln!(
            "git-agent: warning: {} (no way of writing it serves every reader; see \"Values every reader reads\" \
             in the README); the shell hook and `git agent exec` pass it exactly",
            misread.describe(env_file)
        );
    }
}

/// A variable name a shell and a process environment accept.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Names that could take over a shell or the processes it starts. They are never exported by
/// the hook and refused in a repository template unless the user's own config allows them.
pub fn dangerous_name(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "PS0",
        "PS1",
        "PS2",
        "PS3",
        "PS4",
        "IFS",
        "PATH",
        "SHELL",
        "HOME",
        "ZDOTDIR",
        "SHELLOPTS",
        "BASHOPTS",
        "CDPATH",
        "GLOBIGNORE",
        "FPATH",
        "MANPATH",
        "TMPDIR",
        "USER",
        "LOGNAME",
        "EDITOR",
        "VISUAL",
        "PAGER",
        "NODE_OPTIONS",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PERL5LIB",
        "PERL5OPT",
        "RUBYOPT",
        "RUBYLIB",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "SSH_AUTH_SOCK",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_RUNTIME_DIR",
        "path",
        "fpath",
        "cdpath",
        "manpath",
        "module_path",
        // zsh expands prompts (with PROMPT_SUBST, commands in them) and runs these hook arrays;
        // readline macros can type commands; PWD/OLDPWD would mislead the shell and its hook.
        "PROMPT",
        "PROMPT2",
        "PROMPT3",
        "PROMPT4",
        "RPROMPT",
        "RPROMPT2",
        "RPS1",
        "RPS2",
        "SPROMPT",
        "precmd_functions",
        "preexec_functions",
        "chpwd_functions",
        "periodic_functions",
        "zshaddhistory_functions",
        "zshexit_functions",
        "INPUTRC",
        "PWD",
        "OLDPWD",
        // Programs that other programs start on the user's behalf, or that change which code
        // an interpreter loads.
        "LESSOPEN",
        "LESSCLOSE",
        "MANPAGER",
        "GIT_PAGER",
        "BROWSER",
        "PYTHONHOME",
        "PYTHONINSPECT",
        "NODE_PATH",
        "RUBYSHELL",
        "PERLLIB",
        "PERL5DB",
        "SSH_ASKPASS",
        "SUDO_ASKPASS",
        "TERMINFO",
        "HISTFILE",
        "PROMPT_DIRTRIM",
    ];
    // `__ga_*` and `__git_agent*` are the shell hook's own variables (one names the binary it runs).
    const PREFIXES: &[&str] = &[
        "LD_",
        "DYLD_",
        "GIT_",
        "fish_",
        "BASH_FUNC_",
        "__GIT_AGENT",
        "__ga_",
        "__git_agent",
    ];
    // GIT_AGENT_SLOT is git-agent's own, harmless variable; other GIT_* change what git does.
    name != "GIT_AGENT_SLOT"
        && (EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p)))
}

/// One parsed assignment with the line it came from (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses dotenv text as data: `KEY=value`, `export KEY=value`, `'literal'`,
/// `"escaped\n"` (may span lines), `# comments`, and ` # comments` after unquoted values.
/// Lines that are not assignments are reported with their line number.
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let number = index + 1;
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(format!(
                "line {number}: expected KEY=value, found '{}'",
                raw.trim()
            ));
        };
        let key = key.trim_end();
        if !valid_name(key) {
            return Err(format!(
                "line {number}: '{key}' is not a valid variable name"
            ));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            match body.find('\'') {
                Some(end) => body[..end].to_string(),
                None => return Err(format!("line {number}: unterminated single quote")),
            }
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut text = body.to_string();
            loop {
                if let Some(value) = parse_double(&text) {
                    break value;
                }
                match lines.next() {
                    Some((_, more)) => {
                        text.push('\n');
                        text.push_str(more);
                    }
                    None => return Err(format!("line {number}: unterminated double quote")),
                }
            }
        } else {
            let cut = rest
                .find(" #")
                .or_else(|| rest.find("\t#"))
                .unwrap_or(rest.len());
            rest[..cut].trim_end().to_string()
        };
        entries.push(Entry {
            key: key.to_string(),
            value,
            line: number,
        });
    }
    Ok(entries)
}

/// The body of a double-quoted value up to its closing quote, or `None` if it is not closed.
fn parse_double(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                other @ ('\\' | '"' | '$' | '`' | '\'') => out.push(other),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            c => out.push(c),
        }
    }
    None
}

/// Reads an env file as a map (later assignments win), or an empty map if it does not exist.
pub fn load(path: &Path) -> Result<BTreeMap<String, String>> {
    let Some(text) = crate::fsutil::read_if_exists(path)? else {
        return Ok(BTreeMap::new());
    };
    match parse(&text) {
        Ok(entries) => Ok(entries.into_iter().map(|e| (e.key, e.value)).collect()),
        Err(msg) => bail!("{}: {msg}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn user_lines_survive_rewrites() {
        let user = "# mine\nSECRET=abc\r\nexport X='y'\n";
        let once = with_block(user, &vars(&[("PORT", "3001")]));
        let twice = with_block(&once, &vars(&[("PORT", "3002")]));
        assert!(twice.starts_with(user));
        assert!(twice.contains("PORT=3002\n") && !twice.contains("3001"));
        assert_eq!(without_block(&twice).unwrap(), user);
        let no_newline = with_block("A=1", &vars(&[("B", "2")]));
        assert!(no_newline.starts_with("A=1\n# >>> git-agent"));
    }

    #[test]
    fn block_in_the_middle_keeps_both_sides() {
        let text = format!("A=1\n{BEGIN}\nOLD=1\n{END}\nB=2\n");
        let out = with_block(&text, &vars(&[("NEW", "1")]));
        assert_eq!(out, format!("A=1\n{BEGIN}\nNEW=1\n{END}\nB=2\n"));
    }

    #[test]
    fn values_round_trip_through_the_parser() {
        let values = [
            "",
            "plain",
            "a b",
            "it's",
            "say \"hi\"",
            "$(id)",
            "`id`",
            "back\\",
            "two\nlines",
            "100%",
            "ünï",
            "#x",
            "a #b",
        ];
        for value in values {
            let text = format!("K={}\n", quote_value(value));
            let parsed = parse(&text).unwrap();
            assert_eq!(parsed[0].value, value, "{text}");
        }
    }

    #[test]
    fn parser_reads_common_forms_and_reports_lines() {
        let text = "# c\nexport A=1\nB = 'x y' \nC=\"multi\nline\"\nD=v # note\n";
        let parsed = parse(text).unwrap();
        let got: Vec<_> = parsed
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            got,
            [
                ("A", "1", 2),
                ("B", "x y", 3),
                ("C", "multi\nline", 4),
                ("D", "v", 6)
            ]
        );
        assert_eq!(
            parse("ok=1\nnot an assignment\n").unwrap_err(),
            "line 2: expected KEY=value, found 'not an assignment'"
        );
        assert!(parse("1X=2").unwrap_err().contains("line 1"));
    }

    #[test]
    fn names() {
        assert!(valid_name("PORT") && valid_name("_x1"));
        assert!(!valid_name("1X") && !valid_name("A-B") && !valid_name("") && !valid_name("$(id)"));
        for name in [
            "LD_PRELOAD",
            "DYLD_X",
            "BASH_ENV",
            "PS1",
            "PATH",
            "GIT_DIR",
            "fish_greeting",
            "IFS",
            "LESSOPEN",
            "PYTHONHOME",
        ] {
            assert!(dangerous_name(name), "{name}");
        }
        assert!(!dangerous_name("PORT") && !dangerous_name("DATABASE_URL"));
    }
}
