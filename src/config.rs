//! The repository's `.git-agent.toml` and the user's own `config.toml`, merged.
//! Repository values win over the user's personal defaults; trust settings (which dangerous
//! variable names may be exported) come only from the user's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Deserialize;
use toml::Spanned;

use crate::envfile;
use crate::services::{ComposeConfig, DatabaseConfig, RedisConfig};

pub const TEMPLATE_FILE: &str = ".git-agent.toml";
pub const DEFAULT_PATH: &str = "../{repo}-worktrees/{slot}";
pub const DEFAULT_ENV_FILE: &str = ".env.local";

/// The sections of `.git-agent.toml` (and of `[defaults]` in the user's config).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(default)]
    pub worktree: Worktree,
    #[serde(default)]
    pub ports: BTreeMap<String, Spanned<u16>>,
    #[serde(default)]
    pub env: BTreeMap<String, Spanned<String>>,
    pub database: Option<DatabaseConfig>,
    pub redis: Option<RedisConfig>,
    pub compose: Option<ComposeConfig>,
    pub setup: Option<Setup>,
    pub merge: Option<Merge>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Worktree {
    /// Where slots go, relative to the main worktree: `../{repo}-worktrees/{slot}`.
    pub path: Option<String>,
    /// What new branches start from (default: the current HEAD).
    pub base: Option<String>,
    /// The env file git-agent keeps a block in (default `.env.local`).
    pub env_file: Option<String>,
}

/// Getting a slot ready: files copied from the main worktree, commands run in the slot.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default)]
    pub copy: Vec<String>,
    #[serde(default)]
    pub run: Vec<String>,
}

/// Landing a slot (`git agent merge`): commands run in the slot before its branch lands, and in
/// the base's worktree after.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// Run in the slot, with its environment (its own database and ports), on the branch as it
    /// will land; a failure stops the merge with nothing changed.
    #[serde(default)]
    pub test: Vec<String>,
    /// Run in the worktree that has the base checked out, with that worktree's environment
    /// (migrations on the main database, say), once the base was updated.
    #[serde(default)]
    pub after: Vec<String>,
}

/// The user's `$XDG_CONFIG_HOME/git-agent/config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    #[serde(default)]
    pub defaults: Template,
    #[serde(default)]
    pub hook: Hook,
    #[serde(default)]
    pub trust: Trust,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// No line on entering or leaving a slot.
    #[serde(default)]
    pub quiet: bool,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// Variable names normally refused (PATH, LD_PRELOAD, ...) that this user allows by name.
    #[serde(default)]
    pub allow_env: Vec<String>,
}

/// Everything a command needs to know about configuration, merged.
#[derive(Debug, Clone)]
pub struct Config {
    pub template: Template,
    /// Where the repository's template was read from, if it exists.
    pub template_file: Option<PathBuf>,
    /// The template's text, to point at lines in errors found after parsing.
    template_text: String,
    pub hook: Hook,
    pub trust: Trust,
    /// Whether `[setup]` comes from the repository (its commands then need the user's
    /// approval) rather than from the user's own defaults.
    pub setup_from_repo: bool,
    /// Likewise for `[merge]`.
    pub merge_from_repo: bool,
}

impl Config {
    /// Loads the user's config and the template at the root of `main_worktree`.
    pub fn load(main_worktree: &Path) -> Result<Config> {
        let path = main_worktree.join(TEMPLATE_FILE);
        Config::from_template(crate::fsutil::read_if_exists(&path)?, path)
    }

    /// The repository's configuration: the template of its main worktree; for a bare
    /// repository without a checkout of its default branch, the template committed there.
    pub fn load_for(repo: &crate::git::Repo) -> Result<Config> {
        if repo.has_main_worktree() {
            return Config::load(&repo.main_worktree);
        }
        let text = repo.file_at_head(TEMPLATE_FILE);
        let label = repo.common_dir.join(format!("HEAD:{TEMPLATE_FILE}"));
        Config::from_template(text, label)
    }

    /// The user's config and `text`, the template read from `path` (`None`: there is none).
    fn from_template(text: Option<String>, path: PathBuf) -> Result<Config> {
        let user = load_user()?;
        let (repo, template_file, template_text) = match text {
            Some(text) => (parse_template(&text, &path)?, Some(path), text),
            None => (Template::default(), None, String::new()),
        };
        let setup_from_repo = repo.setup.is_some();
        let merge_from_repo = repo.merge.is_some();
        let template = merge(repo, user.defaults);
        let config = Config {
            template,
            template_file,
            template_text,
            hook: user.hook,
            trust: user.trust,
            setup_from_repo,
            merge_from_repo,
        };
        config.check_env_names()?;
        Ok(config)
    }

    /// Only the user's own settings, for commands on existing slots: a broken repository
    /// template must never stop anyone from running, inspecting or removing a slot.
    pub fn load_user_only() -> Result<Config> {
        let user = load_user()?;
        Ok(Config {
            template: user.defaults,
            template_file: None,
            template_text: String::new(),
            hook: user.hook,
            trust: user.trust,
            setup_from_repo: false,
            merge_from_repo: false,
        })
    }

    pub fn env_file(&self) -> &str {
        self.template
            .worktree
            .env_file
            .as_deref()
            .unwrap_or(DEFAULT_ENV_FILE)
    }

    pub fn path_template(&self) -> &str {
        self.template
            .worktree
            .path
            .as_deref()
            .unwrap_or(DEFAULT_PATH)
    }

    /// The commands that come from the repository's template and so need the user's approval
    /// before they run: `[setup] run`, then `[merge] test` and `after`.
    pub fn repo_commands(&self) -> Vec<String> {
        let mut commands = Vec::new();
        if self.setup_from_repo
            && let Some(setup) = &self.template.setup
        {
            commands.extend(setup.run.iter().cloned());
        }
        if self.merge_from_repo
            && let Some(merge) = &self.template.merge
        {
            commands.extend(merge.test.iter().cloned());
            commands.extend(merge.after.iter().cloned());
        }
        commands
    }

    /// Port names and bases; with none configured, `PORT = 3000`.
    pub fn ports(&self) -> BTreeMap<String, u16> {
        if self.template.ports.is_empty() {
            return BTreeMap::from([("PORT".to_string(), 3000)]);
        }
        self.template
            .ports
            .iter()
            .map(|(k, v)| (k.clone(), *v.get_ref()))
            .collect()
    }

    /// `file:line: section.key` for an item of the template, for error messages.
    pub fn place(&self, section: &str, key: &str, span: Option<std::ops::Range<usize>>) -> String {
        match (&self.template_file, span) {
            (Some(file), Some(span)) => {
                format!(
                    "{}:{}: {section}.{key}",
                    file.display(),
                    line_of(&self.template_text, span.start)
                )
            }
            (Some(file), None) => format!("{}: {section}.{key}", file.display()),
            (None, _) => format!("{section}.{key}"),
        }
    }

    /// Whether the user's own config allows a dangerous name.
    pub fn allows(&self, name: &str) -> bool {
        self.trust.allow_env.iter().any(|n| n == name)
    }

    fn check_env_names(&self) -> Result<()> {
        let names = self
            .template
            .env
            .iter()
            .map(|(k, v)| (k, v.span()))
            .chain(self.template.ports.iter().map(|(k, v)| (k, v.span())));
        for (name, span) in names {
            let place = self.place(
                if self.template.env.contains_key(name) {
                    "env"
                } else {
                    "ports"
                },
                name,
                Some(span),
            );
            if !envfile::valid_name(name) {
                bail!(
                    "{place}: '{name}' is not a valid variable name; use letters, digits and '_', not starting with a digit"
                );
            }
            if envfile::dangerous_name(name) && !self.allows(name) {
                bail!(
                    "{place}: the variable {name} could take over shells or programs, so a repository may not set it; \
                     to allow it, add \"{name}\" to allow_env under [trust] in your own config ({})",
                    user_config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
        }
        for (name, port) in &self.template.ports {
            if *port.get_ref() == 0 {
                bail!(
                    "{}: a base port must be between 1 and 65535",
                    self.place("ports", name, Some(port.span()))
                );
            }
        }
        Ok(())
    }
}

/// Parses template text, turning serde/toml errors into `file:line: message` errors.
pub fn parse_template(text: &str, path: &Path) -> Result<Template> {
    toml::from_str(text).map_err(|e| toml_error(e, text, path))
}

fn toml_error(error: toml::de::Error, text: &str, path: &Path) -> anyhow::Error {
    let line = error.span().map(|s| line_of(text, s.start));
    let message = error.message().trim_end().replace('\n', "; ");
    match line {
        Some(line) => anyhow::anyhow!("{}:{line}: {message}", path.display()),
        None => anyhow::anyhow!("{}: {message}", path.display()),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

pub fn user_config_path() -> Option<PathBuf> {
    crate::paths::config_dir().map(|d| d.join("config.toml"))
}

fn load_user() -> Result<UserConfig> {
    let Some(path) = user_config_path() else {
        return Ok(UserConfig::default());
    };
    match crate::fsutil::read_if_exists(&path)? {
        Some(text) => toml::from_str(&text).map_err(|e| toml_error(e, &text, &path)),
        None => Ok(UserConfig::default()),
    }
}

/// Repository values win; the user's defaults fill what the repository leaves unset.
fn merge(repo: Template, user: Template) -> Template {
    let mut env = user.env;
    env.extend(repo.env);
    Template {
        worktree: Worktree {
            path: repo.worktree.path.or(user.worktree.path),
            base: repo.worktree.base.or(user.worktree.base),
            env_file: repo.worktree.env_file.or(user.worktree.env_file),
        },
        ports: if repo.ports.is_empty() {
            user.ports
        } else {
            repo.ports
        },
        env,
        database: repo.database.or(user.database),
        redis: repo.redis.or(user.redis),
        compose: repo.compose.or(user.compose),
        setup: repo.setup.or(user.setup),
        merge: repo.merge.or(user.merge),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_and_key() {
        let path = Path::new("/r/.git-agent.toml");
        let err = parse_template("[ports]\nPORT = 3000\n\n[worktre]\npath = 'x'\n", path)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/r/.git-agent.toml:4:") && err.contains("worktre"),
            "{err}"
        );
        let err = parse_template("[ports]\nPORT = 'x'\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/r/.git-agent.toml:2:"), "{err}");
        let err = parse_template("[ports]\nPORT = 70000\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:"), "{err}");
        let err = parse_template("[env\n", path).unwrap_err().to_string();
        assert!(err.contains(":1:"), "{err}");
    }

    #[test]
    fn full_template_parses() {
        let text = "[worktree]\npath='../w/{slot}'\nbase='main'\nenv_file='.env'\n[ports]\nPORT=3000\nAPI_PORT=4000\n[env]\nAPP_URL='http://localhost:{PORT}'\n[setup]\ncopy=['.env']\nrun=['true']\n";
        let t = parse_template(text, Path::new("t")).unwrap();
        assert_eq!(t.ports.len(), 2);
        assert_eq!(t.env["APP_URL"].get_ref(), "http://localhost:{PORT}");
        assert_eq!(t.setup.unwrap().run, ["true"]);
    }

    #[test]
    fn repo_wins_over_user_defaults() {
        let repo =
            parse_template("[worktree]\nbase='dev'\n[env]\nA='repo'\n", Path::new("r")).unwrap();
        let user = parse_template("[worktree]\npath='~/w/{slot}'\nbase='main'\n[env]\nA='user'\nB='user'\n[ports]\nPORT=5000\n", Path::new("u")).unwrap();
        let merged = merge(repo, user);
        assert_eq!(merged.worktree.base.as_deref(), Some("dev"));
        assert_eq!(merged.worktree.path.as_deref(), Some("~/w/{slot}"));
        assert_eq!(merged.env["A"].get_ref(), "repo");
        assert_eq!(merged.env["B"].get_ref(), "user");
        assert_eq!(*merged.ports["PORT"].get_ref(), 5000);
    }
}
