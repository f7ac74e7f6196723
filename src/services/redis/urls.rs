//! Redis URLs as text: a URL with its database set, with its password masked for messages,
//! percent-decoding of its parts, and a key prefix escaped for SCAN MATCH.

pub(super) fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// `url` with its database set to `db` (for the REDIS_URL of a slot with its own database):
/// in the path for `redis://` and `rediss://`, as `?db=` for sockets.
pub fn url_with_db(url: &str, db: u32) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, format!("#{f}")),
        None => (url, String::new()),
    };
    let (base, query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base, None),
    };
    let mut pairs: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("db="))
        .collect();
    for scheme in ["redis://", "rediss://", "valkey://", "valkeys://"] {
        if let Some(after) = base.strip_prefix(scheme) {
            let authority = after.split('/').next().unwrap_or(after);
            let query = if pairs.is_empty() {
                String::new()
            } else {
                format!("?{}", pairs.join("&"))
            };
            return format!("{scheme}{authority}/{db}{query}{fragment}");
        }
    }
    let db_pair = format!("db={db}");
    pairs.push(&db_pair);
    format!("{base}?{}{fragment}", pairs.join("&"))
}

/// The URL with any password replaced, for messages.
pub fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let rest = mask_query(rest);
    match rest.rsplit_once('@') {
        Some((auth, host)) if auth.contains(':') => {
            let user = auth.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        Some((_, host)) => format!("{scheme}://***@{host}"),
        None => format!("{scheme}://{rest}"),
    }
}

fn mask_query(rest: &str) -> String {
    let Some((base, query)) = rest.split_once('?') else {
        return rest.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k == "password" || k == "pass" => format!("{k}=***"),
            _ => p.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// Escapes the glob characters of SCAN MATCH, so a prefix matches only itself.
pub fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 2);
    for ch in prefix.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}
