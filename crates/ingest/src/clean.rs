//! Text normalisation applied to every string a loader returns.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Removes characters a reader cannot see but a model can (every format character, variation
/// selectors, fillers, control characters), turns `\r\n` and a lone `\r` into `\n`, and puts the
/// result in NFC.
///
/// Invisible characters are how instructions get smuggled into a document past a human
/// reviewer, and they also split words for the tokenizer; NFC makes "e\u{301}" and "é" the
/// same word for BM25. Loaders call this on raw text and again, in
/// [`finish`](crate::parse), on everything a decoder produced (`&#x200B;` in HTML and Markdown
/// only becomes a character after parsing), so calling it twice must change nothing.
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
            c if is_removed(c) => {}
            c => cleaned.push(c),
        }
    }
    match is_nfc_quick(cleaned.chars()) {
        IsNormalized::Yes => cleaned,
        IsNormalized::No | IsNormalized::Maybe => cleaned.nfc().collect(),
    }
}

/// A title, heading or file name for a reader or a model: [`clean_text`] on one line, runs of
/// whitespace (newlines included) collapsed to one space, ends trimmed.
pub fn clean_line(text: &str) -> String {
    clean_text(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// True for the characters [`clean_text`] removes (`\n`, `\t` and `\r` are handled before).
///
/// The whole general category Cf (format) goes, taken from the Unicode tables of the
/// `unicode-properties` crate rather than a hand-kept list, so a format character added in a
/// later Unicode version is covered when the crate is updated. Cf includes a few characters
/// real text uses, removed all the same:
/// - ZWJ and ZWNJ (U+200D, U+200C): emoji sequences fall apart into their emoji ("👨‍👩‍👧"
///   becomes "👨👩👧") and Persian or Indic words lose a shaping hint, but the letters, and so
///   the words BM25 and the embedder see, stay the same; both are also the classic zero-width
///   smuggling alphabet.
/// - The soft hyphen (U+00AD): only a line-break hint; without it the word is whole again.
/// - Arabic and Syriac prepended marks (U+0600-0605, U+06DD, U+070F, U+08E2, U+110BD, U+110CD),
///   which do show: rare outside Quranic and numeric typesetting, and removing them loses no
///   word.
///
/// Besides Cf: the rest of Unicode's Default_Ignorable_Code_Point set (variation selectors,
/// the combining grapheme joiner, Hangul fillers, the Mongolian free variation selectors, the
/// Khmer inherent vowels, and the unassigned code points reserved as ignorable, so a future
/// format character is already gone), and every C0 and C1 control character.
pub(crate) fn is_removed(c: char) -> bool {
    c.is_control() || is_default_ignorable(c) || c.general_category() == GeneralCategory::Format
}

/// Default_Ignorable_Code_Point characters outside Cf (Unicode 16 DerivedCoreProperties).
fn is_default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{034F}'                      // combining grapheme joiner
        | '\u{115F}' | '\u{1160}'       // Hangul choseong and jungseong fillers
        | '\u{17B4}' | '\u{17B5}'       // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}'       // Mongolian free variation selectors (+ U+180E, Cf)
        | '\u{2065}'                    // unassigned, reserved ignorable
        | '\u{3164}'                    // Hangul filler
        | '\u{FE00}'..='\u{FE0F}'       // variation selectors 1-16
        | '\u{FFA0}'                    // halfwidth Hangul filler
        | '\u{FFF0}'..='\u{FFF8}'       // unassigned, reserved ignorable
        | '\u{E0000}'..='\u{E0FFF}'     // tags, variation selectors 17-256, reserved ignorable
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
    fn every_listed_invisible_goes() {
        // The characters issue 8 names, and a sample from each range.
        let invisible = [
            0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x180B, 0x180E, 0x180F, 0x200B, 0x200C,
            0x200D, 0x200E, 0x202E, 0x2060, 0x2065, 0x2066, 0x2069, 0x3164, 0xFE00, 0xFE0F, 0xFEFF,
            0xFFA0, 0xFFF0, 0xFFF9, 0xFFFA, 0xFFFB, 0x110BD, 0x1BCA0, 0x1D173, 0xE0001, 0xE0020,
            0xE0041, 0xE007F, 0xE0100, 0xE01EF, 0xE0FFF,
        ];
        for code in invisible {
            let c = char::from_u32(code).unwrap();
            check(&format!("a{c}b"), "ab");
        }
    }

    #[test]
    fn every_format_character_goes() {
        let mut n_format = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if c.general_category() == GeneralCategory::Format {
                n_format += 1;
                assert!(is_removed(c), "U+{:04X} is a format character", c as u32);
            }
        }
        // Unicode 16 has 170 of them: a table that lost most would show here.
        assert!(n_format >= 160, "{n_format} format characters");
    }

    #[test]
    fn visible_text_stays() {
        for text in [
            "emoji \u{1F600} and flags \u{1F1EB}\u{1F1F7}",
            "Ελληνικά, русский, עברית, العربية, हिन्दी",
            "한국어 텍스트",
            "a\u{00A0}b c\u{2009}d",
        ] {
            check(text, text);
        }
        // Cleaning twice is cleaning once: loaders clean before and after decoding.
        let once = clean_text("x\u{200B}e\u{301}\r\ny\u{FE0F}");
        assert_eq!(once, "xé\ny");
        assert_eq!(clean_text(&once), once);
    }

    #[test]
    fn file_names_and_titles_are_one_clean_line() {
        let check_line = |input: &str, expected: &str| {
            assert_eq!(clean_line(input), expected, "input {input:?}");
        };
        check_line("report\u{061C}\u{202E}fdp.exe", "reportfdp.exe");
        check_line(
            "a\u{180E}b\u{034F}c\u{3164}d\u{FFA0}e\u{FFF9}f\u{FE0F}g",
            "abcdefg",
        );
        check_line("evil\x1b]52;c;ZXZpbA==\x07.txt", "evil]52;c;ZXZpbA==.txt");
        check_line("  two\nlines\r\n\tand tab ", "two lines and tab");
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
