//! Prints the prompt ids of a chat and the 10 most likely next tokens on each CPU backend, as
//! JSON, to compare Docent's kernels with candle's and with llama.cpp.
//!
//!     cargo run -p docent-generate --example top_logits -- MODEL.gguf "question"

use docent_generate::{ChatMessage, CpuBackend, Llm, LoadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path =
        std::path::PathBuf::from(args.next().ok_or("usage: top_logits MODEL.gguf QUESTION")?);
    let question = args
        .next()
        .unwrap_or_else(|| "How tall is the Eiffel Tower?".into());
    let messages = [ChatMessage::user(question)];
    let mut report = serde_json::Map::new();
    for (name, backend) in [
        ("docent", CpuBackend::Docent),
        ("candle", CpuBackend::Candle),
    ] {
        let llm = Llm::load(
            &path,
            &LoadOptions {
                cpu_backend: backend,
                threads: Some(2),
                ..LoadOptions::default()
            },
        )?;
        let ids = llm.encode_chat(&messages)?;
        let logits = llm.logits_after(&ids)?;
        let mut ranked: Vec<(usize, f32)> = logits.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        report.insert("ids".into(), serde_json::json!(ids));
        report.insert(name.into(), serde_json::json!(ranked[..10]));
    }
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}
