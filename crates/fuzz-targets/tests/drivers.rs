//! Time-boxed proptest drivers of the fuzz targets, inside the normal test build: arbitrary
//! bytes, and the committed seeds under random structured mutations (bit flips, interesting
//! integers over length fields, insertions of format keywords, deletions, duplications,
//! truncations, splices of two seeds). The tokenizer also gets whole random vocabularies.
//!
//! Case counts are small so the file runs in well under a minute on two cores; set
//! `DOCENT_FUZZ_CASES=<factor>` to multiply them for a longer local run. The coverage-guided
//! campaign is `scripts/fuzz`.

use docent_fuzz_targets::Target;
use docent_fuzz_targets::gguf_builder::{Vocabulary, tokenizer_file};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(base_cases: u32) -> Config {
    let factor = std::env::var("DOCENT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Config {
        cases: base_cases * factor,
        // Shrinking a parser input can take many runs; a failure is reported with its input
        // either way.
        max_shrink_iters: 256,
        ..Config::default()
    }
}

fn seeds(target: Target) -> Vec<Vec<u8>> {
    let dir = docent_fuzz_targets::seeds_dir().join(target.name());
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Words worth inserting into each target's inputs: the syntax that steers its parser.
fn dictionary(target: Target) -> &'static [&'static [u8]] {
    match target {
        Target::Markdown => &[
            b"# ",
            b"\n## ",
            b"```",
            b"\n    ",
            b"[x](",
            b"![i](",
            b"<div>",
            b"</div>",
            b"\n- ",
            b"\n1. ",
            b"> ",
            b"\n---\n",
            b"|---|",
            b"[^1]",
            b"&#x200B;",
            b"*",
            b"_",
            b"`",
            b"\n\n",
        ],
        Target::Html => &[
            b"<p>",
            b"</p>",
            b"<h1>",
            b"</h2>",
            b"<pre>",
            b"<script>",
            b"<style>",
            b"<!--",
            b"-->",
            b"&#",
            b"&amp;",
            b"<table><tr><td>",
            b"<li>",
            b" hidden",
            b"<title>",
            b"<br>",
            b"<![CDATA[",
            b"<div style=\"display:none\">",
        ],
        Target::Docx => &[
            b"PK\x03\x04",
            b"PK\x01\x02",
            b"PK\x05\x06",
            b"<w:p>",
            b"</w:t>",
        ],
        Target::Pdf => &[
            b" obj ",
            b"endobj",
            b"stream\n",
            b"endstream",
            b"<<",
            b">>",
            b"/Length ",
            b" R ",
            b"/Type /Page",
            b"xref",
            b"trailer",
            b"Tj",
            b"TJ",
            b"BT",
            b"ET",
            b"/FlateDecode",
            b"(",
            b")",
            b"[",
            b"]",
        ],
        Target::Template => &[
            b"{{",
            b"}}",
            b"{%",
            b"%}",
            b"{% for m in messages %}",
            b"{% endfor %}",
            b"{% if ",
            b"{% endif %}",
            b"messages",
            b"loop.index",
            b"range(",
            b"|join",
            b"{% macro f() %}",
            b"{% endmacro %}",
            b"{{ f() }}",
            b"raise_exception(",
            b"\0",
            b"* 99999",
            b"~",
            b"[1:]",
            b".strip()",
            b"|tojson",
            b"{% set x = ",
        ],
        Target::Chunk => &[b"\0", b". ", b"\n", b"\xe3\x80\x82", b"  ", b"\t"],
        Target::Text | Target::Code => &[b"\r\n", b"\xff\xfe", b"\xfe\xff", b"\0", b"\t"],
        Target::Gguf | Target::Tokenizer => &[b"GGUF", b"\x03\0\0\0", b"general.alignment"],
    }
}

/// Values that break length and count fields.
const INTERESTING: [u64; 12] = [
    0,
    1,
    13,
    0x7f,
    0xff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 32,
    1 << 60,
    u64::MAX / 2,
    u64::MAX,
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    SetU32(usize, usize),
    SetU64(usize, usize),
    Insert(usize, Vec<u8>),
    InsertWord(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
    Splice(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        1 => (at.clone(), 0u8..8).prop_map(|(i, bit)| Mutation::FlipBit(i, bit)),
        1 => (at.clone(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => (at.clone(), 0..INTERESTING.len()).prop_map(|(i, v)| Mutation::SetU32(i, v)),
        1 => (at.clone(), 0..INTERESTING.len()).prop_map(|(i, v)| Mutation::SetU64(i, v)),
        1 => (at.clone(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, bytes)| Mutation::Insert(i, bytes)),
        3 => (at.clone(), any::<usize>()).prop_map(|(i, w)| Mutation::InsertWord(i, w)),
        1 => (at.clone(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (at.clone(), 1usize..128).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => at.clone().prop_map(Mutation::Truncate),
        1 => (at, any::<usize>()).prop_map(|(i, other)| Mutation::Splice(i, other)),
    ]
}

fn apply(target: Target, seeds: &[Vec<u8>], seed_idx: usize, mutations: &[Mutation]) -> Vec<u8> {
    let mut data = seeds[seed_idx % seeds.len()].clone();
    for mutation in mutations {
        let len = data.len();
        // Positions wrap around the current length; an empty input only grows.
        let pos = |i: usize| if len == 0 { 0 } else { i % len };
        match mutation {
            Mutation::FlipBit(i, bit) if len > 0 => data[pos(*i)] ^= 1 << bit,
            Mutation::SetByte(i, byte) if len > 0 => data[pos(*i)] = *byte,
            Mutation::SetU32(i, v) if len >= 4 => {
                let at = pos(*i).min(len - 4);
                data[at..at + 4].copy_from_slice(&(INTERESTING[*v] as u32).to_le_bytes());
            }
            Mutation::SetU64(i, v) if len >= 8 => {
                let at = pos(*i).min(len - 8);
                data[at..at + 8].copy_from_slice(&INTERESTING[*v].to_le_bytes());
            }
            Mutation::Insert(i, bytes) => {
                let at = pos(*i);
                data.splice(at..at, bytes.iter().copied());
            }
            Mutation::InsertWord(i, w) => {
                let words = dictionary(target);
                let at = pos(*i);
                data.splice(at..at, words[w % words.len()].iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = pos(*i);
                data.drain(at..(at + n).min(len));
            }
            Mutation::Duplicate(i, n) if len > 0 => {
                let at = pos(*i);
                let copy = data[at..(at + n).min(len)].to_vec();
                data.splice(at..at, copy);
            }
            Mutation::Truncate(i) => data.truncate(pos(*i)),
            Mutation::Splice(i, other) => {
                let other = &seeds[other % seeds.len()];
                let from = if other.is_empty() { 0 } else { i % other.len() };
                data.truncate(pos(*i));
                data.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    data
}

fn inputs(target: Target) -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds(target);
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        4 => (any::<usize>(), prop::collection::vec(mutation(), 1..10))
            .prop_map(move |(seed_idx, mutations)| apply(target, &seeds, seed_idx, &mutations)),
    ]
}

/// A test per target, with its own case count (slower parsers get fewer).
macro_rules! drive {
    ($name:ident, $target:expr, $cases:expr) => {
        proptest! {
            #![proptest_config(config($cases))]
            #[test]
            fn $name(data in inputs($target)) {
                $target.prepare();
                $target.run(&data);
            }
        }
    };
}

drive!(text, Target::Text, 1024);
drive!(code, Target::Code, 1024);
drive!(markdown, Target::Markdown, 1024);
drive!(html, Target::Html, 1024);
drive!(docx, Target::Docx, 1024);
drive!(pdf, Target::Pdf, 1024);
drive!(chunk, Target::Chunk, 512);
drive!(gguf, Target::Gguf, 2048);
drive!(tokenizer, Target::Tokenizer, 512);
drive!(template, Target::Template, 1024);

/// Pieces random vocabularies are made of: byte-level and SentencePiece markers, control-token
/// names, byte tokens, empty and repeated strings.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-e]{1,3}",
        1 => Just("Ġ".to_owned()),
        1 => Just("\u{2581}".to_owned()),
        1 => "\u{2581}[a-c]{1,2}",
        1 => "Ġ[a-c]{1,2}",
        1 => Just("<|im_end|>".to_owned()),
        1 => Just("</s>".to_owned()),
        1 => (0u8..=255).prop_map(|b| format!("<0x{b:02X}>")),
        1 => Just(String::new()),
        1 => "\\PC{1,3}",
    ]
}

fn vocabulary() -> impl Strategy<Value = Vocabulary> {
    (
        prop_oneof![4 => Just("gpt2"), 4 => Just("llama"), 1 => Just("bert")],
        prop::collection::vec(
            (
                token(),
                prop_oneof![6 => Just(1), 1 => Just(2), 2 => Just(3), 1 => Just(4), 1 => Just(6), 1 => any::<i32>()],
                prop_oneof![
                    4 => -10.0f32..0.0,
                    1 => Just(f32::NAN),
                    1 => Just(f32::INFINITY),
                    1 => Just(f32::NEG_INFINITY),
                ],
            ),
            1..40,
        ),
        prop::collection::vec((any::<usize>(), any::<usize>(), any::<bool>()), 0..40),
        prop::option::of(0u32..45),
        prop::option::of(0u32..45),
        prop_oneof![
            Just(None),
            Just(Some("smollm".to_owned())),
            Just(Some("llama-bpe".to_owned())),
            Just(Some("other".to_owned())),
        ],
        prop::bool::weighted(0.1),
    )
        .prop_map(|(model, entries, merge_picks, bos_id, eos_id, pre, drop_a_type)| {
            let mut tokens: Vec<String> = entries.iter().map(|(token, _, _)| token.clone()).collect();
            let mut token_types: Vec<i32> = entries.iter().map(|(_, t, _)| *t).collect();
            let mut scores: Vec<f32> = entries.iter().map(|(_, _, s)| *s).collect();
            let n_pieces = tokens.len();
            // Mostly merges of two vocabulary pieces whose result joins the vocabulary (as in a
            // real BPE vocabulary), sometimes of a piece outside it.
            let mut merges = Vec::new();
            for &(left, right, inside) in &merge_picks {
                let left = tokens[left % n_pieces].clone();
                let right = if inside {
                    tokens[right % n_pieces].clone()
                } else {
                    format!("zz{}", right % 7)
                };
                let merged = format!("{left}{right}");
                if inside && !tokens.contains(&merged) {
                    tokens.push(merged);
                    token_types.push(1);
                    scores.push(-1.0);
                }
                merges.push(format!("{left} {right}"));
            }
            if drop_a_type {
                // One type fewer than tokens: refused with a reason.
                token_types.pop();
            }
            Vocabulary {
                model: model.to_owned(),
                tokens,
                token_types,
                merges,
                scores,
                bos_id,
                eos_id,
                pre,
            }
        })
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn tokenizer_from_random_vocabularies(vocabulary in vocabulary()) {
        Target::Tokenizer.run(&tokenizer_file(&vocabulary));
    }
}
