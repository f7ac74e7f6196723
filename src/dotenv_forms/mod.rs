//! How other programs read the env file, so that each value is written in a form they read
//! back exactly, and the ones that will not are named when no form serves them all.
//!
//! Frameworks read `.env.local` themselves, each with its own parser. Each reader below is
//! modelled from its source, for the three forms git-agent writes (bare, `'...'` and `"..."`):
//! - python-dotenv 1.2 (`dotenv_values`/`load_dotenv`): escapes in both quote kinds, a
//!   backslash always takes the next character, `${NAME}` is interpolated in every form;
//! - Node dotenv 17 (`parse`): no escapes but `\n` and `\r` inside `"..."`, a `#` ends a bare
//!   value, `\'`/`\"` never end a quoted one;
//! - dotenv-expand 12 over it: `$NAME` and `${...}` are expanded unless the `$` follows a
//!   backslash, then every `\$` becomes `$`;
//! - Next.js (`@next/env` 16), whose older copy of dotenv-expand expands from the last `$`
//!   that does not follow a backslash (`$1` too), then turns `\$` into `$`.
//!
//! git-agent's own reader (the hook, `exec`, `env`) must always read the value exactly; among
//! the forms it does, the one most readers read exactly is written. `tests/readers.rs` runs
//! the real readers over hostile values and checks these models against them.

mod models;

use crate::envfile;
use models::{Py, expand_changes, next_changes, node_read, python_read, unescape_dollars};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reader {
    PythonDotenv,
    NodeDotenv,
    DotenvExpand,
    NextEnv,
}

impl Reader {
    pub const ALL: [Reader; 4] = [
        Reader::PythonDotenv,
        Reader::NodeDotenv,
        Reader::DotenvExpand,
        Reader::NextEnv,
    ];

    /// The name in messages and in `doctor --json`.
    pub fn name(self) -> &'static str {
        match self {
            Reader::PythonDotenv => "python-dotenv",
            Reader::NodeDotenv => "dotenv",
            Reader::DotenvExpand => "dotenv-expand",
            Reader::NextEnv => "Next.js",
        }
    }

    /// Which reader matters most when forms tie: the expanding readers are the ones that load
    /// `.env.local` by themselves (Next.js, and Vite through dotenv-expand).
    fn weight(self) -> u8 {
        match self {
            Reader::NextEnv => 8,
            Reader::DotenvExpand => 4,
            Reader::PythonDotenv => 2,
            Reader::NodeDotenv => 1,
        }
    }
}

/// A value as written, and who reads it back as something else.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub text: String,
    pub misread: Vec<Reader>,
    /// Node's readers may take the lines after this one into the value (a quoted value that
    /// must end in a backslash, a bare one that starts with a backtick) when a later line ends
    /// with that quote: the block writes it last.
    pub risky: bool,
}

/// What to tell about a variable some readers will not read exactly.
#[derive(Debug, PartialEq)]
pub struct Misread {
    pub name: String,
    pub readers: Vec<Reader>,
    pub risky: bool,
}

impl Misread {
    /// `NAME is read as another value by python-dotenv, dotenv`, for stderr and doctor.
    pub fn describe(&self, env_file: &str) -> String {
        let mut text = format!("{env_file}: {}", self.name);
        if !self.readers.is_empty() {
            let list: Vec<&str> = self.readers.iter().map(|r| r.name()).collect();
            text.push_str(&format!(" is read as another value by {}", list.join(", ")));
        }
        if self.risky {
            let node = [Reader::NodeDotenv, Reader::DotenvExpand, Reader::NextEnv];
            if self.readers.iter().any(|r| node.contains(r)) {
                text.push_str(
                    ", and Node's readers (dotenv, dotenv-expand, Next.js) may also take the lines after it into \
                     it, where a later line ends with a quote or backtick",
                );
            } else {
                text.push_str(if self.readers.is_empty() {
                    " is"
                } else {
                    ", and"
                });
                text.push_str(
                    " read right by Node's readers (dotenv, dotenv-expand, Next.js) only while no line after it \
                     ends with a quote or backtick",
                );
            }
            text.push_str(" (git-agent writes it last in its block)");
        }
        text
    }
}

/// The variables of `vars` that some readers do not read exactly, and which.
pub fn misread(vars: &std::collections::BTreeMap<String, String>) -> Vec<Misread> {
    vars.iter()
        .filter_map(|(name, value)| {
            let written = write(value);
            (!written.misread.is_empty() || written.risky).then(|| Misread {
                name: name.clone(),
                readers: written.misread,
                risky: written.risky,
            })
        })
        .collect()
}

/// The form of `value` git-agent's reader reads exactly and most others do too.
pub fn write(value: &str) -> Written {
    let mut best: Option<(Written, (bool, bool, usize, u8))> = None;
    for text in candidates(value) {
        if !own_reads(&text, value) {
            continue;
        }
        let mut misread = Vec::new();
        let mut risky = false;
        let mut danger = false;
        let mut python_breaks = false;
        let node = node_read(&text);
        for reader in Reader::ALL {
            let exact = match reader {
                Reader::PythonDotenv => match python_read(&text) {
                    Py::Value(p) => p == value,
                    Py::Other => false,
                    Py::Breaks => {
                        python_breaks = true;
                        false
                    }
                },
                Reader::NodeDotenv => node.value.as_deref() == Some(value),
                Reader::DotenvExpand => node
                    .value
                    .as_deref()
                    .is_some_and(|p| !expand_changes(p) && unescape_dollars(p) == value),
                Reader::NextEnv => node.value.as_deref().is_some_and(|p| {
                    // A `$` Next.js expands may refer to itself and loop until its loader
                    // gives up on the whole file: avoided whenever another form can be.
                    danger |= next_changes(p);
                    !next_changes(p) && unescape_dollars(p) == value
                }),
            };
            if !exact {
                misread.push(reader);
            }
        }
        risky |= node.risky;
        let weight: u8 = Reader::ALL
            .iter()
            .filter(|r| !misread.contains(r))
            .map(|r| r.weight())
            .sum();
        // python-dotenv reads on to the next quote of the file: never, while another form does.
        let rank = (
            !python_breaks,
            !(risky || danger),
            Reader::ALL.len() - misread.len(),
            weight,
        );
        if best.as_ref().is_none_or(|(_, r)| rank > *r) {
            best = Some((
                Written {
                    text,
                    misread,
                    risky,
                },
                rank,
            ));
        }
    }
    best.map(|(w, _)| w).unwrap_or_else(|| Written {
        // Unreachable: the fully escaped double-quoted form always reads back in git-agent.
        text: double(value, true, true),
        misread: Reader::ALL.to_vec(),
        risky: true,
    })
}

/// The forms worth trying, in the order preferred when they serve the same readers.
fn candidates(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+,=~".contains(c));
    if plain {
        out.push(value.to_string());
    }
    if !value.contains(['\'', '\n', '\r']) {
        out.push(format!("'{value}'"));
    }
    if !plain && !value.contains(['\n', '\r']) {
        out.push(value.to_string());
    }
    for all_backslashes in [false, true] {
        for dollars in [false, true] {
            out.push(double(value, all_backslashes, dollars));
        }
    }
    out
}

/// `"..."` with newlines, returns and quotes escaped; backslashes escaped all, or only where
/// git-agent's or python-dotenv's reader would take them for an escape; `$` as `\$` or not.
fn double(value: &str, all_backslashes: bool, dollars: bool) -> String {
    let tokens: Vec<String> = value
        .chars()
        .map(|c| match c {
            '\n' => "\\n".into(),
            '\r' => "\\r".into(),
            '"' => "\\\"".into(),
            '$' if dollars => "\\$".into(),
            c => c.to_string(),
        })
        .collect();
    let mut out = String::from("\"");
    for (i, token) in tokens.iter().enumerate() {
        if token == "\\" {
            let next = tokens.get(i + 1).and_then(|t| t.chars().next());
            let escape = all_backslashes || next.is_none_or(|n| "\\\"'$`nrtabfv".contains(n));
            out.push_str(if escape { "\\\\" } else { "\\" });
        } else {
            out.push_str(token);
        }
    }
    out.push('"');
    out
}

/// git-agent's own reader: the hook and `exec` must always get the exact value.
fn own_reads(text: &str, value: &str) -> bool {
    envfile::parse(&format!("K={text}\nZ=z\n")).is_ok_and(|entries| {
        entries.len() == 2 && entries[0].value == value && entries[1].value == "z"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn misread(value: &str) -> Vec<&'static str> {
        write(value).misread.iter().map(|r| r.name()).collect()
    }

    #[test]
    fn common_values_read_back_everywhere() {
        for value in [
            "",
            "plain",
            "a b",
            "it's",
            "say \"hi\"",
            "it's \"x\"",
            "#x",
            "a #b",
            "a=b",
            "ünï",
            " lead",
            "trail ",
            "two\nlines",
            "C:\\dir\\file",
            "ends\\",
            "`id`",
            "100%",
        ] {
            assert_eq!(
                misread(value),
                Vec::<&str>::new(),
                "{value:?} -> {}",
                write(value).text
            );
        }
        assert_eq!(write("plain").text, "plain");
        assert_eq!(write("a b").text, "'a b'");
        assert_eq!(write("it's \"x\"").text, "it's \"x\"");
        assert_eq!(write("ends\\").text, "ends\\");
    }

    #[test]
    fn dollars_favour_the_expanding_readers() {
        let w = write("$HOME/bin");
        assert_eq!(w.text, "\"\\$HOME/bin\"");
        assert_eq!(misread("$HOME/bin"), ["python-dotenv", "dotenv"]);
        // python-dotenv interpolates ${...} whatever the quotes.
        assert!(misread("${X}-y").contains(&"python-dotenv"));
        // A `$` nobody expands stays as it is.
        assert_eq!(misread("costs 5$"), Vec::<&str>::new());
    }

    #[test]
    fn what_no_form_serves_is_named() {
        // Both quote kinds and a newline: only a double-quoted form, where Node keeps `\"`.
        assert_eq!(
            misread("it's \"x\"\nnext"),
            ["dotenv", "dotenv-expand", "Next.js"]
        );
        let w = write(" a\\");
        assert!(w.risky, "{w:?}");
    }
}
