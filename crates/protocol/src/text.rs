//! Text from relying parties that a person will read: which characters are refused by the service
//! and stripped by every device before display.
//!
//! Control characters can rewrite a terminal (escape sequences) or break a notification's layout;
//! bidirectional controls can make "Approve payment to Evil" render as something else
//! ("Trojan Source"); line and paragraph separators fake new lines where no line break was sent.
//! None has a place in a message, a detail, a requester field or a name.

/// True for a character that must never reach a person's screen from a relying party: C0 and C1
/// controls, the bidirectional embedding/override/isolate controls and marks, and the Unicode
/// line and paragraph separators.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' // ARABIC LETTER MARK
            | '\u{200E}' | '\u{200F}' // LRM, RLM
            | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
            | '\u{2028}' | '\u{2029}' // LINE / PARAGRAPH SEPARATOR
        )
}

/// The first unsafe character of `text`, with its position in characters.
pub fn find_unsafe(text: &str) -> Option<(usize, char)> {
    text.chars().enumerate().find(|(_, c)| is_unsafe_char(*c))
}

/// `text` without its unsafe characters, for display of text that was never checked by a
/// service (or was signed before this rule existed).
pub fn strip_unsafe(text: &str) -> String {
    text.chars().filter(|c| !is_unsafe_char(*c)).collect()
}

/// `text` fit to show where it may be long and came from anyone (a service's error message):
/// unsafe characters stripped, then at most `max_chars` characters, with `…` when something was
/// cut.
pub fn shown(text: &str, max_chars: usize) -> String {
    let safe = strip_unsafe(text);
    match safe.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &safe[..cut]),
        None => safe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_and_bidi_and_keeps_everything_else() {
        for bad in [
            "\u{1b}[2J",
            "a\nb",
            "\u{7f}",
            "\u{85}",
            "pay \u{202E}lived",
            "x\u{2066}y",
            "\u{2028}",
            "\u{200F}",
            "\u{061C}",
        ] {
            assert!(find_unsafe(bad).is_some(), "{bad:?} must be refused");
        }
        for good in [
            "Sign in to Acme Bank?",
            "Überweisung 12.500 €",
            "مرحبا",
            "日本語",
            "a\u{200D}b",
        ] {
            assert_eq!(find_unsafe(good), None, "{good:?} must be accepted");
            assert_eq!(strip_unsafe(good), good);
        }
        assert_eq!(strip_unsafe("pay \u{202E}lived\u{1b}"), "pay lived");
    }

    #[test]
    fn shown_text_is_stripped_then_shortened() {
        assert_eq!(shown("Denied\u{1b}[2J", 300), "Denied[2J");
        assert_eq!(shown("abcdef", 3), "abc…");
        assert_eq!(shown("abc", 3), "abc", "nothing cut, no ellipsis");
        assert_eq!(
            shown("ab\u{202e}\u{202e}c", 3),
            "abc",
            "stripped characters do not count towards the limit"
        );
        assert_eq!(
            shown("日本語です", 2),
            "日本…",
            "cut on characters, not bytes"
        );
    }
}
