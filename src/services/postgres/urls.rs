//! Postgres URLs as text: the URL of a slot's database from the server's host, port and user
//! or from `admin_url`, and the same with its password masked for messages.

/// A libpq URL for the database, over the socket directory or host psql used.
pub(super) fn default_url(host: &str, port: &str, user: &str, name: &str) -> String {
    if host.starts_with('/') {
        return format!(
            "postgresql:///{name}?host={}&port={port}&user={}",
            encode(host),
            encode(user)
        );
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("postgresql://{}@{host}:{port}/{name}", encode(user))
}

/// The admin URL with its database replaced.
pub(super) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgresql", base));
    let authority = rest.split('/').next().unwrap_or("");
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A URL with its password hidden.
pub fn mask(url: &str) -> String {
    crate::services::redis::mask(url)
}
