//! Text normalisation applied by every loader before it returns blocks.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Removes characters a reader cannot see but a model can (zero-width characters, bidi
/// controls, Unicode tag characters, the soft hyphen, control characters), turns `\r\n` and a
/// lone `\r` into `\n`, and puts the result in NFC.
///
/// Invisible characters are how instructions get smuggled into a document past a human
/// reviewer, and they also split words for the tokenizer; NFC makes "e\u{301}" and "é" the
/// same word for BM25.
pub fn clean_text(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => cleaned.push(c),
            '\r' => {
                // "\r\n" becomes one "\n" (the "\n" comes next); an old-Mac lone "\r" still
                // ends a line, so line numbers match what editors show.
                if chars.peek() != Some(&'\n') {
                    cleaned.push('\n');
                }
            }
            c if is_control(c) || is_invisible(c) => {}
            c => cleaned.push(c),
        }
    }
    match is_nfc_quick(cleaned.chars()) {
        IsNormalized::Yes => cleaned,
        IsNormalized::No | IsNormalized::Maybe => cleaned.nfc().collect(),
    }
}

/// C0 controls, DEL and C1 controls. `\n`, `\t` and `\r` are handled before this is asked.
fn is_control(c: char) -> bool {
    let code = c as u32;
    code < 0x20 || (0x7f..=0x9f).contains(&code)
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                      // soft hyphen
        | '\u{061C}'                    // arabic letter mark (a bidi control)
        | '\u{200B}'..='\u{200F}'       // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}'       // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}'       // bidi isolates
        | '\u{FEFF}'                    // byte order mark, zero-width no-break space
        | '\u{E0000}'..='\u{E007F}'     // tag characters
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(clean_text(input), expected, "input {input:?}");
    }

    #[test]
    fn invisible_characters_go() {
        check("pass\u{200B}word", "password");
        check("a\u{200C}b\u{200D}c\u{200E}d\u{200F}e", "abcde");
        check("\u{FEFF}hello", "hello");
        check("word\u{2060}joiner\u{2064}", "wordjoiner");
        check("soft\u{00AD}hyphen", "softhyphen");
    }

    #[test]
    fn bidi_controls_go() {
        check("evil\u{202E}fdp.exe", "evilfdp.exe");
        check("\u{202A}\u{202B}\u{202C}\u{202D}x", "x");
        check("\u{2066}a\u{2067}b\u{2068}c\u{2069}", "abc");
    }

    #[test]
    fn tag_characters_go() {
        // "hi" followed by the tag-encoded "ignore" smuggling payload.
        let smuggled: String = "ignore"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        check(&format!("hi{smuggled}\u{E007F}"), "hi");
    }

    #[test]
    fn controls_go_but_lines_and_tabs_stay() {
        check("a\0b\x07c\x1bd", "abcd");
        check("col1\tcol2\nnext", "col1\tcol2\nnext");
        check("one\r\ntwo\r\n", "one\ntwo\n");
        check("old\rmac", "old\nmac");
        check("del\u{7f}c1\u{85}", "delc1");
    }

    #[test]
    fn nfc() {
        check("e\u{301}", "é");
        check("Ame\u{301}lie", "Amélie");
        check("\u{212B}", "\u{C5}"); // angstrom sign to A with ring
        check("日本語 テキスト", "日本語 テキスト");
        check("", "");
    }
}
