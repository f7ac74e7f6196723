//! `{placeholder}` rendering and the variables a slot offers to templates.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// The values placeholders can name. Built-ins (`repo`, `slot`, `branch`, `k`, `path`, `main`,
/// `id`, `db`), every port name, and the variables the data services produce.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_string(), value.into());
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Renders `text`, where `{name}` is a variable and `{{`/`}}` are literal braces.
    /// `place` says where the text came from, for errors (`.git-agent.toml:12: env.APP_URL`).
    pub fn render(&self, text: &str, place: &str) -> Result<String> {
        render_with(
            text,
            place,
            |name| self.value(name).map(str::to_string),
            || self.known(),
        )
    }

    /// Checks that every placeholder in `text` is one of `names`, without rendering.
    pub fn check(text: &str, place: &str, names: &[String]) -> Result<()> {
        render_with(
            text,
            place,
            |name| names.iter().any(|n| n == name).then(String::new),
            || names.join(", "),
        )
        .map(|_| ())
    }

    fn known(&self) -> String {
        self.names().collect::<Vec<_>>().join(", ")
    }
}

fn render_with(
    text: &str,
    place: &str,
    lookup: impl Fn(&str) -> Option<String>,
    known: impl Fn() -> String,
) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            bail!("{place}: unmatched '}}' in \"{text}\"; write '}}}}' for a literal brace");
        } else {
            let Some(end) = tail.find('}') else {
                bail!("{place}: unclosed '{{' in \"{text}\"; write '{{{{' for a literal brace");
            };
            let name = &tail[1..end];
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => bail!(
                    "{place}: unknown placeholder {{{name}}}; known placeholders: {}",
                    known()
                ),
            }
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut vars = Vars::default();
        vars.set("PORT", "3001");
        vars.set("slot", "feature-auth");
        vars
    }

    #[test]
    fn renders_and_escapes() {
        let v = vars();
        assert_eq!(
            v.render("http://localhost:{PORT}/{slot}", "x").unwrap(),
            "http://localhost:3001/feature-auth"
        );
        assert_eq!(
            v.render("{{literal}} {PORT}", "x").unwrap(),
            "{literal} 3001"
        );
        assert_eq!(v.render("", "x").unwrap(), "");
    }

    #[test]
    fn errors_name_the_place_and_the_choices() {
        let v = vars();
        let err = v
            .render("{PROT}", ".git-agent.toml:4: env.URL")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".git-agent.toml:4: env.URL")
                && err.contains("{PROT}")
                && err.contains("PORT, slot"),
            "{err}"
        );
        assert!(
            v.render("{PORT", "x")
                .unwrap_err()
                .to_string()
                .contains("unclosed")
        );
        assert!(
            v.render("a}", "x")
                .unwrap_err()
                .to_string()
                .contains("unmatched")
        );
        assert!(Vars::check("{a}{b}", "x", &["a".into()]).is_err());
        assert!(Vars::check("{a}", "x", &["a".into()]).is_ok());
    }
}
