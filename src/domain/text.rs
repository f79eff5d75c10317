//! What text people type may hold: no control characters (NUL above all, which PostgreSQL
//! cannot store), except that text spanning lines (notes, descriptions) keeps tabs and line
//! breaks.

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

#[cfg(test)]
mod tests {
    use super::*;

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
