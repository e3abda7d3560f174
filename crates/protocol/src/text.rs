//! Text from relying parties that a person will read: which characters are refused by the service
//! and stripped by every device before display.
//!
//! Control characters can rewrite a terminal (escape sequences) or break a notification's layout;
//! bidirectional controls can make "Approve payment to Evil" render as something else
//! ("Trojan Source"); line and paragraph separators fake new lines where no line break was sent;
//! invisible and format characters (zero-width spaces, tag characters, Hangul fillers) hide or
//! push text out of view ("Sign in" followed by a hundred fillers and "and wire $9,000"); a long
//! run of whitespace or of stacked combining marks does the same. None has a place in a message, a
//! detail, a requester field or a name.

/// Longest run of whitespace characters allowed in a row.
pub const MAX_SPACE_RUN: usize = 3;
/// Most combining marks allowed on one character.
pub const MAX_COMBINING_RUN: usize = 3;

/// True for a character that must never reach a person's screen from a relying party: C0 and C1
/// controls, every Unicode format character (general category Cf: bidirectional controls and
/// marks, zero-width spaces, the byte-order mark, tag characters, invisible operators) but the two
/// joiners (U+200C, U+200D: emoji sequences and several scripts need them), the
/// line and paragraph separators, and the characters that render as nothing (Hangul fillers,
/// the Braille blank).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // General category Cf (format), Unicode 15.1.
            '\u{00AD}' // SOFT HYPHEN
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}' // ARABIC LETTER MARK
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}' // MONGOLIAN VOWEL SEPARATOR
            // ZWSP, LRM, RLM; not the joiners U+200C/U+200D, which emoji sequences and Persian
            // and Indic scripts need.
            | '\u{200B}' | '\u{200E}' | '\u{200F}'
            | '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2060}'..='\u{2064}' // WORD JOINER, invisible operators
            | '\u{2066}'..='\u{206F}' // LRI, RLI, FSI, PDI, deprecated format characters
            | '\u{FEFF}' // BYTE ORDER MARK / ZWNBSP
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}' // tag characters
            // Separators that fake line breaks.
            | '\u{2028}' | '\u{2029}'
            // Letters that render as nothing.
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{2800}' // BRAILLE PATTERN BLANK
        )
}

/// True for a combining mark (the common blocks), which stacks on the character before it.
fn is_combining(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// The first unsafe character of `text` with its position in characters, or the first character
/// of a run of whitespace longer than [`MAX_SPACE_RUN`] or of combining marks longer than
/// [`MAX_COMBINING_RUN`].
pub fn find_unsafe(text: &str) -> Option<(usize, char)> {
    let (mut spaces, mut marks) = (0, 0);
    for (i, c) in text.chars().enumerate() {
        if is_unsafe_char(c) {
            return Some((i, c));
        }
        spaces = if c.is_whitespace() { spaces + 1 } else { 0 };
        marks = if is_combining(c) { marks + 1 } else { 0 };
        if spaces > MAX_SPACE_RUN || marks > MAX_COMBINING_RUN {
            return Some((i, c));
        }
    }
    None
}

/// `text` without its unsafe characters, with whitespace runs and combining-mark runs cut to
/// their maximum, for display of text that was never checked by a service (or was signed before
/// this rule existed).
pub fn strip_unsafe(text: &str) -> String {
    let (mut spaces, mut marks) = (0, 0);
    let mut out = String::with_capacity(text.len());
    for c in text.chars().filter(|c| !is_unsafe_char(*c)) {
        spaces = if c.is_whitespace() { spaces + 1 } else { 0 };
        marks = if is_combining(c) { marks + 1 } else { 0 };
        if spaces <= MAX_SPACE_RUN && marks <= MAX_COMBINING_RUN {
            out.push(c);
        }
    }
    out
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
    fn refuses_invisible_characters_and_runs_that_hide_text() {
        let hidden = format!("Sign in to Acme{}and wire $9,000", "\u{3164}".repeat(150));
        for bad in [
            "a\u{200B}b",
            "a\u{2060}b",
            "\u{FEFF}x",
            "so\u{00AD}ft",
            "tag\u{E0041}",
            "\u{206A}",
            "\u{FFF9}",
            "\u{115F}",
            "\u{2800}",
            "\u{180E}",
            hidden.as_str(),
            "a     b",
            "a\u{301}\u{301}\u{301}\u{301}",
        ] {
            assert!(find_unsafe(bad).is_some(), "{bad:?} must be refused");
        }
        for good in [
            "family 👨\u{200D}👩\u{200D}👧",
            "می\u{200C}خواهم",
            "e\u{301}",
            "a   b",
        ] {
            assert_eq!(find_unsafe(good), None, "{good:?} must be accepted");
        }
        assert_eq!(
            strip_unsafe(&hidden),
            "Sign in to Acmeand wire $9,000",
            "stripping shows what was hidden"
        );
        assert_eq!(strip_unsafe("a          b"), "a   b");
    }
}
