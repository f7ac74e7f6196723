//! Text that fits: display widths and shortening with an ellipsis, for the table.

/// The columns a string takes in a terminal: 2 for East Asian wide characters and most
/// emoji, 0 for combining marks, 1 otherwise (enough for names, paths and task notes).
pub fn width(text: &str) -> usize {
    text.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let c = c as u32;
    if (0x0300..=0x036F).contains(&c) || (0x200B..=0x200F).contains(&c) {
        return 0;
    }
    let wide = [
        (0x1100, 0x115F),
        (0x2E80, 0xA4CF),
        (0xAC00, 0xD7A3),
        (0xF900, 0xFAFF),
        (0xFE30, 0xFE4F),
        (0xFF00, 0xFF60),
        (0xFFE0, 0xFFE6),
        (0x1F300, 0x1F64F),
        (0x1F900, 0x1F9FF),
        (0x20000, 0x3FFFD),
    ];
    if wide.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) {
        2
    } else {
        1
    }
}

/// `text` cut at the end to at most `max` columns, the cut marked with `ellipsis`.
pub fn cut_end(text: &str, max: usize, ellipsis: &str) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let room = max.saturating_sub(width(ellipsis));
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        if used + char_width(c) > room {
            break;
        }
        used += char_width(c);
        out.push(c);
    }
    if max >= width(ellipsis) {
        out.push_str(ellipsis);
    }
    out
}

/// A path cut in the middle to at most `max` columns, keeping its start (where it is) and its
/// end (which one it is): `~/src/app-worktrees/feature-auth` -> `~/src/…/feature-auth`.
pub fn cut_middle(text: &str, max: usize, ellipsis: &str) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let room = max.saturating_sub(width(ellipsis));
    let tail_room = room - room / 3;
    let mut tail = Vec::new();
    let mut used = 0;
    for c in chars.iter().rev() {
        if used + char_width(*c) > tail_room {
            break;
        }
        used += char_width(*c);
        tail.push(*c);
    }
    tail.reverse();
    let head_room = room - used;
    let mut head = String::new();
    let mut used = 0;
    for c in &chars {
        if used + char_width(*c) > head_room {
            break;
        }
        used += char_width(*c);
        head.push(*c);
    }
    format!("{head}{ellipsis}{}", tail.into_iter().collect::<String>())
}

/// `path` with the home directory written `~`.
pub fn home_short(path: &str, home: Option<&str>) -> String {
    match home.filter(|h| !h.is_empty() && *h != "/") {
        Some(home) if path == home => "~".to_string(),
        Some(home) => match path.strip_prefix(home) {
            Some(rest) if rest.starts_with('/') => format!("~{rest}"),
            _ => path.to_string(),
        },
        None => path.to_string(),
    }
}

/// How long ago, in a few characters: `now`, `42s`, `5m`, `3h`, `2d`.
pub fn ago(seconds: u64) -> String {
    match seconds {
        0..=4 => "now".to_string(),
        5..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m", seconds / 60),
        3600..=86_399 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fit_and_say_so() {
        assert_eq!(cut_end("Add OAuth login", 9, "…"), "Add OAut…");
        assert_eq!(cut_end("Add OAuth login", 9, "..."), "Add OA...");
        assert_eq!(cut_end("short", 9, "…"), "short");
        assert_eq!(width(&cut_end("日本語のタスク", 7, "…")), 7);
        let p = cut_middle("~/src/app-worktrees/feature-auth", 20, "…");
        assert_eq!(width(&p), 20);
        assert!(p.starts_with("~/src") && p.ends_with("feature-auth"), "{p}");
        assert_eq!(home_short("/home/u/src/x", Some("/home/u")), "~/src/x");
        assert_eq!(
            home_short("/home/user2/x", Some("/home/u")),
            "/home/user2/x"
        );
        assert_eq!(ago(3), "now");
        assert_eq!(ago(125), "2m");
        assert_eq!(ago(7200), "2h");
    }
}
