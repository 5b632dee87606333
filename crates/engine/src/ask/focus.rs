//! Sentence-level work on passages with the embedding model: the "focus" step (a cheap
//! System 2 Attention: keep only the sentences of each source that bear on the question) and
//! post-hoc attribution (which source best supports each sentence of an uncited answer).

use docent_embed::Embedder;

use crate::EngineError;

/// Sentences of a source whose cosine similarity to the question reaches this are kept by the
/// focus step (besides the source's best [`FOCUS_ALWAYS_KEEP`]).
pub(crate) const FOCUS_MIN_SIMILARITY: f32 = 0.35;

/// Every source keeps at least its best sentences, so no source is left empty.
pub(crate) const FOCUS_ALWAYS_KEEP: usize = 2;

/// An answer sentence is attributed to the source holding its most similar sentence only when
/// that similarity reaches this; below it, the answer says something the sources do not.
pub(crate) const ATTRIBUTION_MIN_SIMILARITY: f32 = 0.55;

/// Answer sentences shorter than this many words ("Yes.", "Sure!") are not attributed.
const ATTRIBUTION_MIN_WORDS: usize = 3;

/// Byte ranges of the sentences of `text`, in order, trimmed, none empty. A sentence ends
/// after `.`, `!` or `?` followed by white space, and at a line break that starts a new unit: a
/// blank line, a list item, a heading, or a line after one ending in `:`. Other line breaks are
/// hard wraps inside a sentence.
pub(crate) fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut idx = 0;
    while idx < bytes.len() {
        let byte = bytes[idx];
        let boundary = match byte {
            b'.' | b'!' | b'?' => bytes.get(idx + 1).is_none_or(|b| b.is_ascii_whitespace()),
            b'\n' => starts_new_unit(&text[..idx], &text[idx + 1..]),
            _ => false,
        };
        if boundary {
            push_trimmed(text, start, idx + 1, &mut spans);
            start = idx + 1;
        }
        idx += 1;
    }
    push_trimmed(text, start, text.len(), &mut spans);
    spans
}

/// Whether the line break between `before` and `after` ends a unit (see [`sentence_spans`]).
fn starts_new_unit(before: &str, after: &str) -> bool {
    let full_line_before = before.rsplit('\n').next().unwrap_or("");
    let line_before = full_line_before.trim_end();
    let next_line = after.split('\n').next().unwrap_or("");
    let next = next_line.trim_start();
    if line_before.is_empty() || next.is_empty() || line_before.ends_with(':') {
        return true;
    }
    let list_item = ["- ", "* ", "+ ", "# ", "## ", "### ", "#### ", "| "]
        .iter()
        .any(|marker| next.starts_with(marker))
        || next.split_once(". ").is_some_and(|(number, _)| {
            !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
        });
    // A line that is not indented like the one before it (code, a new block) starts a unit.
    let indent = |line: &str| line.len() - line.trim_start().len();
    list_item || indent(next_line) != indent(full_line_before)
}

fn push_trimmed(text: &str, start: usize, end: usize, spans: &mut Vec<(usize, usize)>) {
    let piece = &text[start..end];
    let leading = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    if !trimmed.is_empty() {
        let from = start + leading;
        spans.push((from, from + trimmed.len()));
    }
}

/// What the embedder reads for a sentence: white space (hard wraps, indentation) collapsed.
fn embed_text(sentence: &str) -> String {
    sentence.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Keeps, in each passage, the sentences similar enough to the question (and always its best
/// few), in their original order; runs of dropped sentences become " ... ". Returns one text
/// per passage.
pub(crate) fn focus_passages(
    embedder: &dyn Embedder,
    question: &str,
    passages: &[&str],
) -> Result<Vec<String>, EngineError> {
    let spans: Vec<Vec<(usize, usize)>> = passages.iter().map(|p| sentence_spans(p)).collect();
    let mut texts = vec![embed_text(question)];
    for (passage, passage_spans) in passages.iter().zip(&spans) {
        texts.extend(
            passage_spans
                .iter()
                .map(|&(a, b)| embed_text(&passage[a..b])),
        );
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs)?;
    let (question_vector, sentence_vectors) = vectors.split_first().expect("question vector");

    let mut focused = Vec::with_capacity(passages.len());
    let mut offset = 0;
    for (passage, passage_spans) in passages.iter().zip(&spans) {
        let scores: Vec<f32> = sentence_vectors[offset..offset + passage_spans.len()]
            .iter()
            .map(|v| dot(question_vector, v))
            .collect();
        offset += passage_spans.len();
        let keep = kept_sentences(&scores);
        focused.push(join_kept(passage, passage_spans, &keep));
    }
    Ok(focused)
}

/// Which sentences the focus step keeps, given their similarities to the question.
pub(crate) fn kept_sentences(scores: &[f32]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut keep: Vec<bool> = scores.iter().map(|&s| s >= FOCUS_MIN_SIMILARITY).collect();
    for &idx in order.iter().take(FOCUS_ALWAYS_KEEP) {
        keep[idx] = true;
    }
    keep
}

fn join_kept(passage: &str, spans: &[(usize, usize)], keep: &[bool]) -> String {
    let mut out = String::new();
    let mut gap = false;
    for (&(a, b), &kept) in spans.iter().zip(keep) {
        if !kept {
            gap = true;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if gap { " ... " } else { " " });
        } else if gap {
            out.push_str("... ");
        }
        out.push_str(&embed_text(&passage[a..b]));
        gap = false;
    }
    if gap && !out.is_empty() {
        out.push_str(" ...");
    }
    out
}

/// For an answer that cites nothing: the sources (indices into `sources`, in order of first
/// attribution) that best support its sentences, each with the similarity that won it.
pub(crate) fn attribute(
    embedder: &dyn Embedder,
    answer: &str,
    sources: &[&str],
) -> Result<Vec<(usize, f32)>, EngineError> {
    let answer_sentences: Vec<String> = sentence_spans(answer)
        .into_iter()
        .map(|(a, b)| embed_text(&answer[a..b]))
        .filter(|s| s.split_whitespace().count() >= ATTRIBUTION_MIN_WORDS)
        .collect();
    if answer_sentences.is_empty() || sources.is_empty() {
        return Ok(Vec::new());
    }
    let mut owners = Vec::new();
    let mut texts: Vec<String> = answer_sentences.clone();
    for (source_idx, source) in sources.iter().enumerate() {
        for (a, b) in sentence_spans(source) {
            owners.push(source_idx);
            texts.push(embed_text(&source[a..b]));
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs)?;
    let (answer_vectors, source_vectors) = vectors.split_at(answer_sentences.len());

    let mut attributed: Vec<(usize, f32)> = Vec::new();
    for answer_vector in answer_vectors {
        let best = source_vectors
            .iter()
            .zip(&owners)
            .map(|(v, &owner)| (owner, dot(answer_vector, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((owner, similarity)) = best
            && similarity >= ATTRIBUTION_MIN_SIMILARITY
        {
            match attributed.iter_mut().find(|(o, _)| *o == owner) {
                Some(entry) => entry.1 = entry.1.max(similarity),
                None => attributed.push((owner, similarity)),
            }
        }
    }
    Ok(attributed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<&str> {
        sentence_spans(text)
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect()
    }

    #[test]
    fn sentences_split_at_stops_and_new_units_not_at_hard_wraps() {
        let check = |text: &str, expected: &[&str]| {
            assert_eq!(sentences(text), expected, "{text:?}");
        };
        check("One. Two! Three?", &["One.", "Two!", "Three?"]);
        check(
            "Version 1.5 is out. It is 3.2 MB.",
            &["Version 1.5 is out.", "It is 3.2 MB."],
        );
        check(
            "The vents open at\n27 C. They close\nbelow 22 C.",
            &["The vents open at\n27 C.", "They close\nbelow 22 C."],
        );
        check(
            "# Title\n\nFirst para.\n\nDay one\n- Laptop from B2\n- Badge photo",
            &[
                "# Title",
                "First para.",
                "Day one",
                "- Laptop from B2",
                "- Badge photo",
            ],
        );
        check(
            "Ingredients:\n250 g lentils",
            &["Ingredients:", "250 g lentils"],
        );
        check("fn a() {\n    b();\n}", &["fn a() {", "b();", "}"]);
        check("   ", &[]);
        check("Ünïcode é. Ça va?", &["Ünïcode é.", "Ça va?"]);
    }

    #[test]
    fn focus_keeps_the_best_sentences_and_those_above_the_bar() {
        let check = |scores: &[f32], expected: &[bool]| {
            assert_eq!(kept_sentences(scores), expected, "{scores:?}");
        };
        check(&[0.1, 0.5, 0.2, 0.05], &[false, true, true, false]);
        check(&[0.4, 0.6, 0.36, 0.1], &[true, true, true, false]);
        check(&[0.1], &[true]);
        check(&[], &[]);
    }

    fn embedder() -> docent_embed::BertEmbedder {
        let dir = crate::default_models_dir().join(crate::EMBED_MODEL_DIR);
        docent_embed::BertEmbedder::load(&dir, docent_embed::EmbedConfig::default())
            .expect("the default embedding model (scripts/setup fetches it)")
    }

    const GREENHOUSE: &str = "The greenhouse is open from 7:00 to 20:00 in summer. The door \
code changes every month. The roof vents open by themselves when the inside temperature \
reaches 27 C and close again below 22 C. Diseased leaves go into the green bin by the gate.";
    const SOUP: &str = "Soften the onion and carrots in olive oil. Simmer the lentils for 20 \
minutes. Finish with lemon juice.";

    #[test]
    fn focus_keeps_the_sentence_that_answers_and_drops_unrelated_ones() {
        let embedder = embedder();
        let question = "At what temperature do the greenhouse roof vents open?";
        let focused = focus_passages(&embedder, question, &[GREENHOUSE, SOUP]).unwrap();
        assert_eq!(focused.len(), 2);
        assert!(focused[0].contains("reaches 27 C"), "{}", focused[0]);
        assert!(!focused[0].contains("door code"), "{}", focused[0]);
        assert!(focused[0].len() < GREENHOUSE.len());
        // An unrelated source keeps only its best sentences, never nothing.
        let kept = focused[1]
            .split(". ")
            .filter(|s| !s.trim_matches('.').trim().is_empty());
        assert!(
            (1..=FOCUS_ALWAYS_KEEP).contains(&kept.count()),
            "{}",
            focused[1]
        );
    }

    #[test]
    fn attribution_names_the_supporting_source_or_none() {
        let embedder = embedder();
        let sources = [SOUP, GREENHOUSE];
        let attributed = attribute(
            &embedder,
            "The roof vents open when it reaches 27 C.",
            &sources,
        )
        .unwrap();
        assert_eq!(attributed.iter().map(|a| a.0).collect::<Vec<_>>(), [1]);
        assert!(attributed[0].1 >= ATTRIBUTION_MIN_SIMILARITY);
        // Two sentences, two sources, in order of the answer.
        let attributed = attribute(
            &embedder,
            "Simmer the lentils for 20 minutes. The vents open at 27 C.",
            &sources,
        )
        .unwrap();
        assert_eq!(attributed.iter().map(|a| a.0).collect::<Vec<_>>(), [0, 1]);
        // Something no source says, and a sentence too short to judge.
        let attributed = attribute(
            &embedder,
            "The football World Cup of 1998 was won by France. Yes.",
            &sources,
        )
        .unwrap();
        assert_eq!(attributed, []);
    }

    #[test]
    fn kept_sentences_are_joined_in_order_with_gaps_marked() {
        let text = "A one. B two. C three. D four.";
        let spans = sentence_spans(text);
        assert_eq!(
            join_kept(text, &spans, &[true, false, true, false]),
            "A one. ... C three. ..."
        );
        assert_eq!(
            join_kept(text, &spans, &[false, true, true, false]),
            "... B two. C three. ..."
        );
        assert_eq!(join_kept(text, &spans, &[true, true, true, true]), text);
    }
}
