//! What text people type may hold: no control characters (NUL above all, which PostgreSQL
//! cannot store), except that text spanning lines (notes, descriptions) keeps tabs and line
//! breaks. And how any text is written into HTML or SVG that is built as text: escaped.

/// Whether `c` may appear in text that spans lines.
pub fn allowed_in_text(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// Text of one line (a name, a code): no control character at all.
pub fn is_one_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// Text that may span lines (a note, a description).
pub fn is_lines(text: &str) -> bool {
    text.chars().all(allowed_in_text)
}

/// Appends `text` to `out` escaped for an element's content or a quoted attribute value, in
/// HTML and SVG alike.
pub fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` escaped (see [`push_escaped`]).
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_and_nothing_else() {
        assert_eq!(
            escaped(r#"<a href="x">Tom & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
        assert_eq!(escaped("Ünïcödé — 👍"), "Ünïcödé — 👍");
    }

    #[test]
    fn lines_keep_breaks_and_tabs_but_nothing_else() {
        assert!(is_lines("first line\nsecond\r\n\tindented"));
        assert!(!is_lines("nul \0 inside"));
        assert!(!is_lines("escape \u{1b}[31m"));
        assert!(!is_lines("delete \u{7f}"));
        assert!(is_one_line("Ünïcödé names, emoji 👍"));
        assert!(!is_one_line("two\nlines"));
        assert!(!is_one_line("tab\there"));
    }
}
