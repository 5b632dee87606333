//! Tests with the real all-MiniLM-L6-v2 from the models folder (`scripts/setup` fetches it).
//! The reference vectors in tests/data/embed/reference.json come from sentence-transformers
//! (tests/data/embed/make_reference.py).

use std::path::PathBuf;
use std::sync::OnceLock;

use docent_embed::{BertEmbedder, CandleBertEmbedder, EmbedConfig, Embedder, default_model_dir};

fn model_dir() -> PathBuf {
    let dir = default_model_dir();
    assert!(
        dir.join("model.safetensors").is_file(),
        "the embedding model is missing from {}: run scripts/setup to fetch the default models",
        dir.display()
    );
    dir
}

fn embedder() -> &'static BertEmbedder {
    static EMBEDDER: OnceLock<BertEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| {
        BertEmbedder::load(&model_dir(), EmbedConfig::default()).expect("model loads")
    })
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (norm(a) * norm(b))
}

fn max_abs_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

struct Reference {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    #[derive(serde::Deserialize)]
    struct File {
        sentences: Vec<Sentence>,
    }
    #[derive(serde::Deserialize)]
    struct Sentence {
        text: String,
        vector: Vec<f32>,
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/embed/reference.json");
    let file: File =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture readable")).unwrap();
    let (texts, vectors) = file
        .sentences
        .into_iter()
        .map(|s| (s.text, s.vector))
        .unzip();
    Reference { texts, vectors }
}

fn embed(embedder: &dyn Embedder, texts: &[&str]) -> Vec<Vec<f32>> {
    embedder.embed(texts).expect("embedding works")
}

#[test]
fn vectors_match_sentence_transformers() {
    let reference = reference();
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let vectors = embed(embedder(), &texts);
    assert_eq!(vectors.len(), texts.len());
    for ((text, got), want) in texts.iter().zip(&vectors).zip(&reference.vectors) {
        assert_eq!(got.len(), 384);
        let similarity = cosine(got, want);
        assert!(similarity >= 0.999, "cosine {similarity} for {text:?}");
    }
}

#[test]
fn candle_bert_model_agrees_with_the_packed_forward() {
    let reference = reference();
    let texts: Vec<&str> = reference.texts.iter().map(String::as_str).collect();
    let candle = CandleBertEmbedder::load(&model_dir(), EmbedConfig::default()).unwrap();
    let from_candle = embed(&candle, &texts);
    let packed = embed(embedder(), &texts);
    for ((text, a), b) in texts.iter().zip(&from_candle).zip(&packed) {
        let similarity = cosine(a, b);
        assert!(similarity >= 0.99999, "cosine {similarity} for {text:?}");
    }
    for (text, a) in texts.iter().zip(&from_candle) {
        let want = &reference.vectors[reference.texts.iter().position(|t| t == text).unwrap()];
        assert!(cosine(a, want) >= 0.999, "candle vs reference for {text:?}");
    }
}

#[test]
fn similar_sentences_score_as_sentence_transformers_does() {
    let vectors = embed(
        embedder(),
        &[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
        ],
    );
    let close = cosine(&vectors[0], &vectors[1]);
    let far = cosine(&vectors[0], &vectors[2]);
    assert!((close - 0.7553).abs() <= 0.01, "close pair {close}");
    assert!((far - -0.105).abs() <= 0.02, "unrelated pair {far}");
}

#[test]
fn vectors_do_not_depend_on_batch_composition_or_threads() {
    let texts: Vec<String> = docent_embed::bench::sample_texts(None, 12).unwrap();
    let mut texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    texts.extend([
        "Short one.",
        "",
        "A man is eating food.",
        "Crème brûlée, déjà vu.",
    ]);
    let together = embed(embedder(), &texts);
    let one_by_one: Vec<Vec<f32>> = texts
        .iter()
        .map(|text| embed(embedder(), &[text]).remove(0))
        .collect();
    assert!(max_abs_difference(&together, &one_by_one) <= 1e-5);

    let small_batches_one_thread = BertEmbedder::load(
        &model_dir(),
        EmbedConfig {
            batch_size: 3,
            threads: 1,
            ..EmbedConfig::default()
        },
    )
    .unwrap();
    let reversed: Vec<&str> = texts.iter().rev().copied().collect();
    let mut other = embed(&small_batches_one_thread, &reversed);
    other.reverse();
    assert!(max_abs_difference(&together, &other) <= 1e-5);
}

#[test]
fn long_inputs_are_truncated_at_256_tokens() {
    assert_eq!(embedder().max_tokens(), 256);
    let words: Vec<String> = (0..3000).map(|i| format!("word{}", i % 97)).collect();
    let long = words.join(" ");
    let longer = format!("{long} and a different ending that lies far beyond the limit");
    let start_only = words[..40].join(" ");
    let vectors = embed(embedder(), &[&long, &longer, &start_only]);
    // Past 256 tokens nothing counts, so the two long texts embed identically...
    assert!(max_abs_difference(&vectors[..1], &vectors[1..2]) <= 1e-6);
    // ...while a text that ends within the limit differs.
    assert!(cosine(&vectors[0], &vectors[2]) < 0.9999);
}

#[test]
fn empty_and_blank_texts_give_unit_vectors() {
    assert!(embed(embedder(), &[]).is_empty());
    for vector in embed(embedder(), &["", "   ", "\n"]) {
        assert_eq!(vector.len(), 384);
        assert!(vector.iter().all(|v| v.is_finite()));
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
}
