//! Quoting values for shells, so that `eval` of the output sets exactly the value and runs
//! nothing, whatever the value holds.

/// POSIX single quotes (bash, zsh, sh): everything is literal; `'` becomes `'\''`.
pub fn posix(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Fish single quotes: inside them fish treats `\\` and `\'` as escapes, so both are escaped
/// (POSIX quoting is wrong in fish: a trailing backslash would escape the closing quote).
pub fn fish(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(posix("it's"), r"'it'\''s'");
        assert_eq!(posix(""), "''");
        assert_eq!(fish(r"a\"), r"'a\\'");
        assert_eq!(fish("it's"), r"'it\'s'");
    }
}
