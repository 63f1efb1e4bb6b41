//! Text that came from outside (database rows, kong.conf, a journal file) made safe to show to a
//! person: control characters escaped so that a value cannot move the cursor, retitle the
//! terminal or ring its bell, and long values cut. Pure functions, for the commands' human output
//! and the TUI alike. JSON output does not need them: serde escapes control characters itself.

use std::borrow::Cow;
use std::fmt::Write;

/// How many characters of an echoed value are shown before it is cut.
pub const ECHO_CHARS: usize = 200;

/// True for what a terminal may act on: C0 controls (NUL, BEL, ESC...), DEL, C1 controls (CSI
/// is U+009B) and the bidirectional overrides that reorder what is displayed.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

fn escape_where(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| unsafe_char(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One value (a subsystem name, a lock owner, a kong.conf value) with every control character
/// escaped, newlines and tabs too: `\x1b`, `\x07`, `\n`, `\u{9b}`.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_where(s, |_| false)
}

/// A whole block of human output: every control character escaped except the newlines and tabs
/// that lay it out. For the boundary where a command prints.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    escape_where(s, |c| c == '\n' || c == '\t')
}

/// At most `max` characters of `s`; a longer value ends in `... (N bytes)`.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}... ({} bytes)", &s[..i], s.len())),
    }
}

/// An echoed value: escaped, then cut to [`ECHO_CHARS`].
pub fn echo(s: &str) -> String {
    let cut = cut(s, ECHO_CHARS);
    escape(&cut).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(escape("a\0b\x7f"), "a\\x00b\\x7f");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(escape("two\nlines\r"), "two\\nlines\\r");
        assert!(matches!(escape("café, ü"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("ok\n\tline\x1b[2J"), "ok\n\tline\\x1b[2J");
    }

    #[test]
    fn long_values_are_cut_with_their_size() {
        let long = "é".repeat(300);
        let c = cut(&long, 200);
        assert!(c.starts_with(&"é".repeat(200)));
        assert!(c.ends_with("... (600 bytes)"), "{c}");
        assert_eq!(cut("short", 200), "short");
        assert_eq!(
            echo(&format!("\x1b{}", "a".repeat(500))),
            format!("\\x1b{}... (501 bytes)", "a".repeat(199))
        );
    }
}
