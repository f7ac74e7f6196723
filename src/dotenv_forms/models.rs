//! The readers' models: how python-dotenv and Node dotenv (with dotenv-expand and Next.js's
//! copy of it) read one quoted or bare value back, modelled from their sources and checked
//! against the real programs by `tests/readers.rs`.

fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn js_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

pub(super) enum Py {
    Value(String),
    /// An error python-dotenv reports and skips the line for.
    Other,
    /// A lone backslash takes the closing quote: it may read on into the next lines.
    Breaks,
}

/// The value python-dotenv's `dotenv_values` reads for `K=text`.
pub(super) fn python_read(text: &str) -> Py {
    let quoted = if let Some(body) = text.strip_prefix('\'') {
        body.strip_suffix('\'').map(|body| {
            unescape_pairs(body, '\'', |c| match c {
                '\\' | '\'' => Some(c),
                _ => None,
            })
        })
    } else if let Some(body) = text.strip_prefix('"') {
        body.strip_suffix('"').map(|body| {
            unescape_pairs(body, '"', |c| match c {
                '\\' | '\'' | '"' => Some(c),
                'a' => Some('\u{7}'),
                'b' => Some('\u{8}'),
                'f' => Some('\u{c}'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\u{b}'),
                _ => None,
            })
        })
    } else {
        None
    };
    let value = match quoted {
        Some(read) => match read {
            Py::Value(v) => v,
            other => return other,
        },
        None => {
            let bare = text.trim_start_matches(|c: char| py_space(c) && c != '\r' && c != '\n');
            if bare.starts_with(['\'', '"']) {
                return Py::Other;
            }
            // `re.sub(r"\s+#.*", "", value).rstrip()`
            let chars: Vec<char> = bare.chars().collect();
            let mut cut = chars.len();
            let mut run_start = None;
            for (i, &c) in chars.iter().enumerate() {
                if py_space(c) {
                    run_start.get_or_insert(i);
                } else {
                    if c == '#'
                        && let Some(start) = run_start
                    {
                        cut = start;
                        break;
                    }
                    run_start = None;
                }
            }
            let kept: String = chars[..cut].iter().collect();
            kept.trim_end_matches(py_space).to_string()
        }
    };
    if python_interpolates(&value) {
        Py::Other
    } else {
        Py::Value(value)
    }
}

/// Splits `body` into `\x` pairs and single characters, as python-dotenv's quoted-value
/// pattern does, and decodes the pairs `decode` knows.
fn unescape_pairs(body: &str, quote: char, decode: impl Fn(char) -> Option<char>) -> Py {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(next) = chars.next() else {
                return Py::Breaks;
            };
            match decode(next) {
                Some(d) => out.push(d),
                None => {
                    out.push('\\');
                    out.push(next);
                }
            }
        } else if c == quote {
            return Py::Other;
        } else {
            out.push(c);
        }
    }
    Py::Value(out)
}

/// Whether python-dotenv's `${NAME}` / `${NAME:-default}` pattern matches anywhere.
pub(super) fn python_interpolates(value: &str) -> bool {
    value.match_indices("${").any(|(i, _)| {
        let rest = &value[i + 2..];
        match rest.find(['}', ':']) {
            Some(j) if rest.as_bytes()[j] == b'}' => true,
            Some(j) => rest[j..].starts_with(":-") && rest[j + 2..].contains('}'),
            None => false,
        }
    })
}

/// What Node dotenv's `parse` gives for one line: the value it reads (`None`: something else
/// than any value git-agent meant), and whether it may read on into the lines after it.
#[derive(Debug, PartialEq)]
pub(super) struct Node {
    pub(super) value: Option<String>,
    /// The closing quote follows a backslash (Node's pattern takes `\'` and `\"` for escaped
    /// quotes), or a bare value starts with a backtick: Node looks for the end in the lines
    /// after it, and finds one if a later line ends with that quote.
    pub(super) risky: bool,
}

pub(super) fn node_read(text: &str) -> Node {
    let node = |value: Option<String>, risky: bool| Node { value, risky };
    if let Some(body) = text.strip_prefix('\'') {
        let Some(body) = body.strip_suffix('\'') else {
            return node(None, false);
        };
        if body.contains('\'') {
            return node(None, false);
        }
        return node(Some(body.replace('\r', "\n")), body.ends_with('\\'));
    }
    if let Some(body) = text.strip_prefix('"') {
        let Some(body) = body.strip_suffix('"') else {
            return node(None, false);
        };
        let chars: Vec<char> = body.chars().collect();
        if (0..chars.len()).any(|i| chars[i] == '"' && (i == 0 || chars[i - 1] != '\\')) {
            return node(None, false);
        }
        return node(
            Some(body.replace("\\n", "\n").replace("\\r", "\r")),
            body.ends_with('\\'),
        );
    }
    let bare = text.split('#').next().unwrap_or("");
    let bare = bare.trim_matches(js_space);
    // Surrounding quotes of the same kind are taken off, after trimming.
    let value = match bare.chars().next() {
        Some(q @ ('`' | '\'' | '"')) if bare.len() >= 2 && bare.ends_with(q) => {
            bare[1..bare.len() - 1].to_string()
        }
        _ => bare.to_string(),
    };
    node(Some(value), text.starts_with('`'))
}

/// `$` at `i` does not follow a backslash.
fn unescaped_dollar(chars: &[char], i: usize) -> bool {
    chars[i] == '$' && (i == 0 || chars[i - 1] != '\\')
}

/// Whether dotenv-expand 12 replaces anything: `$NAME` or `${...}` not after a backslash.
pub(super) fn expand_changes(p: &str) -> bool {
    let chars: Vec<char> = p.chars().collect();
    (0..chars.len()).any(|i| {
        if !unescaped_dollar(&chars, i) {
            return false;
        }
        match chars.get(i + 1) {
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => true,
            Some('{') => {
                let rest = &chars[i + 2..];
                match rest.iter().position(|c| *c == '}' || *c == '{') {
                    Some(j) => rest[j] == '}' && j > 0,
                    None => false,
                }
            }
            _ => false,
        }
    })
}

/// Whether @next/env's interpolation replaces anything: it looks only at the last `$` not
/// after a backslash, followed by a word character or `{` and one.
pub(super) fn next_changes(p: &str) -> bool {
    let chars: Vec<char> = p.chars().collect();
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_');
    match (0..chars.len())
        .rev()
        .find(|&i| unescaped_dollar(&chars, i))
    {
        Some(i) => {
            word(chars.get(i + 1)) || (chars.get(i + 1) == Some(&'{') && word(chars.get(i + 2)))
        }
        None => false,
    }
}

/// Both expanding readers end by turning every `\$` into `$`.
pub(super) fn unescape_dollars(p: &str) -> String {
    p.replace("\\$", "$")
}
