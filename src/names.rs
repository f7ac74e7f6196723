//! Names derived from branches: slot names, identifiers and short stable hashes.

use anyhow::{Result, bail};

/// Longest slot name we create; long enough for real branch names, short enough for paths.
const MAX_SLOT_LEN: usize = 64;

/// A stable 64-bit FNV-1a hash. Unlike `DefaultHasher`, it never changes between compiler
/// releases, so names derived from it stay the same across upgrades.
pub fn stable_hash(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Six hex digits of `stable_hash`, for names that must be unique per branch.
pub fn short_hash(text: &str) -> String {
    format!("{:06x}", stable_hash(text) & 0xff_ffff)
}

/// Turns a branch name into a slot name that is safe as one path component:
/// `feature/auth` → `feature-auth`, `修正/ログイン` → `修正-ログイン`. Letters and digits of any
/// script and `._-` survive (never a separator, a control or formatting character such as a
/// right-to-left override, nor shell syntax); runs of anything else become one `-`; leading
/// dots and dashes are dropped so the name is never hidden, never `..` and never looks like
/// a flag.
pub fn slot_name(branch: &str) -> String {
    let mut out = String::with_capacity(branch.len());
    for ch in branch.chars() {
        let keep = slot_char(ch);
        if keep {
            out.push(ch);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out
        .trim_start_matches(['-', '.'])
        .trim_end_matches(['-', '.']);
    let mut name: String = trimmed.chars().take(MAX_SLOT_LEN).collect();
    while name.ends_with(['-', '.']) {
        name.pop();
    }
    if name.is_empty() || name.contains("..") || name.ends_with(".lock") {
        let cleaned = name
            .replace("..", "-")
            .trim_end_matches(".lock")
            .to_string();
        let base = if cleaned.is_empty() {
            "slot".to_string()
        } else {
            cleaned
        };
        // Room for the hash, so the name still passes `check_slot_name` and can be typed.
        let base: String = base.chars().take(MAX_SLOT_LEN - 7).collect();
        return format!("{base}-{}", short_hash(branch));
    }
    name
}

/// A character a slot name may hold: a letter or digit of any script, `.`, `_` or `-`.
fn slot_char(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '.' || ch == '_' || ch == '-'
}

/// Checks a slot name given by the user with `--name`.
pub fn check_slot_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("the slot name is empty; use letters, digits, '.', '_' or '-'");
    }
    if name.chars().count() > MAX_SLOT_LEN {
        bail!("the slot name '{name}' is longer than {MAX_SLOT_LEN} characters");
    }
    if name.starts_with(['-', '.']) || name.contains("..") {
        bail!("the slot name '{name}' may not start with '-' or '.' nor contain '..'");
    }
    if let Some(bad) = name.chars().find(|c| !slot_char(*c)) {
        bail!("the slot name '{name}' contains '{bad}'; use letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// A lower-case identifier of `[a-z0-9_]` for databases and similar: never empty, never
/// starting with a digit, at most `max` bytes, and unique per `unique` thanks to a hash
/// suffix (Postgres silently truncates names over 63 bytes, so two long branches could
/// otherwise share one database).
pub fn identifier(parts: &[&str], unique: &str, max: usize) -> String {
    let hash = short_hash(unique);
    let budget = max.saturating_sub(hash.len() + 1).max(1);
    let mut body = String::new();
    for part in parts {
        let clean = ident_part(part);
        if clean.is_empty() {
            continue;
        }
        if !body.is_empty() {
            body.push('_');
        }
        body.push_str(&clean);
    }
    if body.is_empty() || body.starts_with(|c: char| c.is_ascii_digit()) {
        body.insert_str(0, "s_");
    }
    body.truncate(budget);
    let body = body.trim_end_matches('_');
    format!("{body}_{hash}")
}

fn ident_part(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        let ch = ch.to_ascii_lowercase();
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            out.push(ch);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

/// A name for Compose projects: lower-case letters, digits, `-` and `_`, starting with a
/// letter or digit.
pub fn compose_name(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        let ch = ch.to_ascii_lowercase();
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-' {
            out.push(ch);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_start_matches(['-', '_']).to_string();
    if trimmed.is_empty() {
        "slot".into()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_are_path_safe() {
        assert_eq!(slot_name("feature/auth"), "feature-auth");
        assert_eq!(slot_name("fix//two  spaces"), "fix-two-spaces");
        assert_eq!(slot_name("-rf"), "rf");
        assert_eq!(slot_name("ünïcode/ß"), "ünïcode-ß");
        assert_eq!(slot_name("日本語"), "日本語");
        assert_eq!(slot_name("修正/ログイン画面"), "修正-ログイン画面");
        assert_eq!(slot_name("fix\u{202e}txt"), "fix-txt");
        assert_eq!(slot_name("😀"), format!("slot-{}", short_hash("😀")));
        assert!(slot_name("..").starts_with("slot-"));
        assert!(slot_name("///").starts_with("slot-"));
        assert!(!slot_name("a/../b").contains(".."));
        assert!(slot_name(&"x".repeat(300)).len() <= MAX_SLOT_LEN);
        assert!(!slot_name("topic.lock").ends_with(".lock"));
    }

    #[test]
    fn check_rejects_unsafe_names() {
        assert!(check_slot_name("ok-name_1.2").is_ok());
        assert!(check_slot_name("ü").is_ok() && check_slot_name("日本語").is_ok());
        for bad in ["", "-x", ".x", "a..b", "a/b", "a b", "a\u{202e}b", "$x"] {
            assert!(check_slot_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_fit_postgres() {
        let long = "feature/".repeat(20);
        let a = identifier(&["myapp", &format!("{long}a")], &format!("{long}a"), 63);
        let b = identifier(&["myapp", &format!("{long}b")], &format!("{long}b"), 63);
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
        assert!(identifier(&["9lives"], "x", 63).starts_with("s_9lives"));
    }

    #[test]
    fn hash_is_stable() {
        // Pinned: changing it would rename every database already created.
        assert_eq!(
            short_hash("feature/auth"),
            format!("{:06x}", stable_hash("feature/auth") & 0xffffff)
        );
        assert_eq!(stable_hash(""), 0xcbf29ce484222325);
        assert_eq!(compose_name("MyApp/feature auth"), "myapp-feature-auth");
    }
}
