//! Every committed seed and regression input through its target, and the binary seeds kept
//! equal to the code that makes them (`UPDATE_SEEDS=1 cargo test -p docent-fuzz-targets
//! --test seeds` rewrites them).

use std::io::{Cursor, Write};
use std::path::Path;

use docent_fuzz_targets::gguf_builder::{Tensor, Value, Vocabulary, build, tokenizer_file};
use docent_fuzz_targets::{Target, regressions_dir, seeds_dir};

/// The files of `dir/<target>/`, sorted; none when the folder does not exist.
fn inputs(dir: &Path, target: Target) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(target.name())) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file() && !is_note(path))
        .collect();
    paths.sort();
    paths
}

/// A `README.md` next to inputs says what they are; Markdown seeds have other names.
fn is_note(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "README.md")
}

#[test]
fn every_target_has_seeds_and_no_folder_is_unknown() {
    for target in Target::ALL {
        assert!(
            !inputs(&seeds_dir(), target).is_empty(),
            "fuzz/seeds/{} has no seed",
            target.name()
        );
    }
    for dir in [seeds_dir(), regressions_dir()] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    Target::from_name(&name).is_some(),
                    "{} is not named after a target",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn seeds_and_regressions_replay_cleanly() {
    let mut n_inputs = 0;
    for target in Target::ALL {
        target.prepare();
        for path in inputs(&seeds_dir(), target)
            .into_iter()
            .chain(inputs(&regressions_dir(), target))
        {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| target.run(&data));
            assert!(
                outcome.is_ok(),
                "{} fails target {}",
                path.display(),
                target.name()
            );
            n_inputs += 1;
        }
    }
    assert!(n_inputs >= Target::ALL.len());
}

/// Loader seeds that are documents parse to text, so that mutations start from inputs that
/// reach deep into each loader rather than stopping at its first check.
#[test]
fn loader_seeds_reach_text() {
    use docent_ingest::{Limits, parse_bytes};
    use docent_types::DocType;
    let loaders = [
        (Target::Text, DocType::Text),
        (Target::Markdown, DocType::Markdown),
        (Target::Html, DocType::Html),
        (Target::Docx, DocType::Docx),
        (Target::Code, DocType::Code),
        (Target::Pdf, DocType::Pdf),
    ];
    for (target, doc_type) in loaders {
        let mut n_parsed = 0;
        for path in inputs(&seeds_dir(), target) {
            let data = std::fs::read(&path).unwrap();
            if parse_bytes(&data, doc_type, &Limits::default()).is_ok() {
                n_parsed += 1;
            }
        }
        assert!(n_parsed > 0, "no {} seed parses", target.name());
    }
}

const W_NS: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

/// A DOCX of `entries`; `word/document.xml` deflated, the rest stored, timestamps fixed, so
/// the bytes are the same on every run.
fn docx(entries: &[(&str, String)]) -> Vec<u8> {
    use zip::CompressionMethod;
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        let method = if *name == "word/document.xml" {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default().compression_method(method);
        writer.start_file(*name, options).unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn document_xml(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W_NS}><w:body>{body}</w:body></w:document>"#
    )
}

fn gpt2_vocabulary() -> Vocabulary {
    let mut tokens: Vec<String> = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
        .map(String::from)
        .to_vec();
    let mut token_types = vec![3, 3, 3];
    for piece in [
        "h", "e", "l", "o", "w", "r", "d", "Ġ", "he", "ll", "llo", "hello", "Ġw", "or", "Ġwor",
        "ld", "Ġworld", "<", "|", ">", "1", "2",
    ] {
        tokens.push(piece.to_string());
        token_types.push(1);
    }
    Vocabulary {
        model: "gpt2".into(),
        tokens,
        token_types,
        merges: [
            "h e", "l l", "ll o", "he llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld",
        ]
        .map(String::from)
        .to_vec(),
        scores: Vec::new(),
        bos_id: None,
        eos_id: Some(1),
        pre: Some("smollm".into()),
    }
}

fn llama_vocabulary() -> Vocabulary {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut token_types = vec![2, 3, 3];
    let mut scores = vec![0.0, 0.0, 0.0];
    for byte in [b'\n', b' ', b'A', 0xC3, 0xA9] {
        tokens.push(format!("<0x{byte:02X}>"));
        token_types.push(6);
        scores.push(0.0);
    }
    for (piece, score) in [
        ("\u{2581}", -1.0),
        ("H", -2.0),
        ("e", -2.0),
        ("l", -2.0),
        ("o", -2.0),
        ("\u{2581}H", -3.0),
        ("ll", -3.0),
        ("\u{2581}He", -4.0),
        ("llo", -4.0),
        ("\u{2581}Hello", -5.0),
    ] {
        tokens.push(piece.to_string());
        token_types.push(1);
        scores.push(score);
    }
    Vocabulary {
        model: "llama".into(),
        tokens,
        token_types,
        merges: Vec::new(),
        scores,
        bos_id: Some(1),
        eos_id: Some(2),
        pre: None,
    }
}

/// (target, file name, bytes) of every seed made by code.
fn generated_seeds() -> Vec<(Target, &'static str, Vec<u8>)> {
    let styles = format!(
        r#"<w:styles {W_NS}><w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style><w:style w:styleId="Title"><w:name w:val="Title"/></w:style></w:styles>"#
    );
    let core = r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Handbook</dc:title></cp:coreProperties>"#;
    let simple = docx(&[
        (
            "[Content_Types].xml",
            r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#
                .to_string(),
        ),
        (
            "word/document.xml",
            document_xml(concat!(
                r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Opening hours</w:t></w:r></w:p>"#,
                r#"<w:p><w:r><w:t xml:space="preserve">The library opens </w:t></w:r><w:r><w:t>at 9:00.</w:t></w:r></w:p>"#,
                r#"<w:p><w:r><w:t>Tab</w:t><w:tab/><w:t>and break</w:t><w:br/><w:t>&amp; entity &#x200B;</w:t></w:r></w:p>"#,
            )),
        ),
        ("word/styles.xml", styles),
        ("docProps/core.xml", core.to_string()),
    ]);
    let table = docx(&[(
        "word/document.xml",
        document_xml(concat!(
            r#"<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell one</w:t></w:r></w:p></w:tc>"#,
            r#"<w:tc><w:p><w:r><w:t>cell two</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#,
            r#"<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Unknown style</w:t></w:r></w:p>"#,
        )),
    )]);

    let model = build(
        &[
            ("general.architecture", Value::Str("llama".into())),
            ("general.name", Value::Str("seed".into())),
            ("general.alignment", Value::U32(32)),
            ("llama.context_length", Value::U64(2048)),
            ("llama.embedding_length", Value::U32(32)),
            ("llama.attention.head_count", Value::U32(4)),
            ("llama.rope.freq_base", Value::F32(10000.0)),
            ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
            (
                "tokenizer.chat_template",
                Value::Str("{{ messages[0]['content'] }}".into()),
            ),
        ],
        &[
            Tensor {
                name: "output_norm.weight".into(),
                dims: vec![4],
                type_id: 0,
                data: vec![0; 16],
            },
            Tensor {
                name: "token_embd.weight".into(),
                dims: vec![32, 2],
                type_id: 2,
                data: vec![0; 36],
            },
        ],
    );
    let arrays = build(
        &[
            ("general.architecture", Value::Str("llama".into())),
            ("a.ints", Value::I32s(vec![1, -2, 3])),
            ("a.floats", Value::F32s(vec![0.5, -1.5])),
            ("a.strings", Value::Strings(vec!["x".into(), String::new()])),
        ],
        &[],
    );
    vec![
        (Target::Docx, "simple.docx", simple),
        (Target::Docx, "table.docx", table),
        (Target::Gguf, "model.gguf", model),
        (Target::Gguf, "arrays.gguf", arrays),
        (
            Target::Tokenizer,
            "gpt2.gguf",
            tokenizer_file(&gpt2_vocabulary()),
        ),
        (
            Target::Tokenizer,
            "llama.gguf",
            tokenizer_file(&llama_vocabulary()),
        ),
    ]
}

#[test]
fn generated_seeds_are_current() {
    let update = std::env::var_os("UPDATE_SEEDS").is_some_and(|v| v == "1");
    for (target, name, bytes) in generated_seeds() {
        let path = seeds_dir().join(target.name()).join(name);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} is stale: run UPDATE_SEEDS=1 cargo test -p docent-fuzz-targets --test seeds",
            path.display()
        );
    }
}

/// The tokenizer seeds build tokenizers, so that mutations start inside the builder's happy path.
#[test]
fn tokenizer_seeds_build_tokenizers() {
    use docent_generate::GgufTokenizer;
    use docent_generate::gguf::GgufFile;
    for vocabulary in [gpt2_vocabulary(), llama_vocabulary()] {
        let bytes = tokenizer_file(&vocabulary);
        let file = GgufFile::from_bytes(&bytes, Path::new("seed.gguf")).unwrap();
        let tokenizer = GgufTokenizer::from_gguf(&file).unwrap();
        let ids = tokenizer.encode_text("hello world Hello").unwrap();
        assert!(!ids.is_empty(), "{} encodes nothing", vocabulary.model);
    }
}
