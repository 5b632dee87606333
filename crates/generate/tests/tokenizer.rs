//! The default model's tokenizer, built from GGUF metadata, against llama.cpp's token ids
//! (tests/data/generate/tokenizer_reference.json, made by scripts/make-tokenizer-fixture.py).

use docent_generate::gguf::GgufFile;
use docent_generate::{GgufTokenizer, Segment, default_model_path};

#[derive(serde::Deserialize)]
struct Fixture {
    model: String,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    /// Whether control-token strings count (llama.cpp's `special=True`).
    special: bool,
    ids: Vec<u32>,
}

fn fixture() -> Fixture {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/generate/tokenizer_reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn tokenizer() -> GgufTokenizer {
    let path = default_model_path();
    assert!(
        path.is_file(),
        "the default model {} is missing: run scripts/setup to fetch it",
        path.display()
    );
    GgufTokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap()
}

#[test]
fn matches_llama_cpp_id_for_id() {
    let fixture = fixture();
    assert_eq!(fixture.model, docent_generate::DEFAULT_MODEL_FILE);
    assert!(fixture.cases.len() >= 8);
    let tokenizer = tokenizer();
    for case in &fixture.cases {
        let ids = if case.special {
            tokenizer
                .encode_prompt(&[Segment::Template(&case.text)])
                .unwrap()
        } else {
            tokenizer.encode_text(&case.text).unwrap()
        };
        assert_eq!(ids, case.ids, "{:?}", case.text);
        if !case.special {
            assert_eq!(tokenizer.decode(&ids).unwrap(), case.text, "round trip");
        }
    }
}

#[test]
fn streaming_decode_rebuilds_every_fixture_text() {
    let tokenizer = tokenizer();
    for case in fixture().cases.iter().filter(|case| !case.special) {
        let mut stream = tokenizer.stream();
        let mut text = String::new();
        for &id in &case.ids {
            if let Some(piece) = stream.push(id).unwrap() {
                assert!(
                    !piece.contains('\u{FFFD}'),
                    "{:?}: a piece of a character was emitted",
                    case.text
                );
                text.push_str(&piece);
            }
        }
        if let Some(rest) = stream.finish().unwrap() {
            text.push_str(&rest);
        }
        assert_eq!(text, case.text);
    }
}

#[test]
fn knows_the_special_tokens() {
    let tokenizer = tokenizer();
    assert_eq!(tokenizer.vocab_size(), 49152);
    assert!(!tokenizer.adds_bos());
    assert_eq!(tokenizer.token_id("<|im_start|>"), Some(1));
    assert_eq!(tokenizer.token_id("<|im_end|>"), Some(2));
    assert!(
        tokenizer.is_stop(2) && tokenizer.is_stop(0),
        "{:?}",
        tokenizer.stop_ids()
    );
    assert!(!tokenizer.is_stop(1));
    assert!((0..17).all(|id| tokenizer.is_control(id)) && !tokenizer.is_control(17));
    assert_eq!(tokenizer.decode(&[1, 9690, 2]).unwrap(), "system");
}
