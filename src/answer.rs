//! `docent ask` and `docent chat`: streamed answers with numbered sources.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use docent_engine::{
    Answer, AskRequest, CancelFlag, Citation, CitationMode, DeviceChoice, Engine, EngineConfig,
    NOT_FOUND_ANSWER, Removed, RemovedKind,
};
use serde_json::json;

use crate::output::{terminal_safe, terminal_safe_line};

/// Flags shared by `ask` and `chat`.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Passages given to the model.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// A llama-family GGUF file (default: SmolLM2-135M-Instruct in the models folder).
    #[arg(long, env = "DOCENT_MODEL")]
    model: Option<PathBuf>,
    #[arg(long, default_value = "auto", value_parser = ["auto", "cpu", "cuda", "metal"])]
    device: String,
    /// CPU threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// 0 answers greedily (best for a small model); higher values vary the wording.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    #[arg(long, default_value_t = 299_792_458)]
    seed: u64,
    /// Longest answer, in tokens.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
    /// Give the model only the sentences of each passage that bear on the question (default:
    /// the engine's, chosen on `docent bench answers`).
    #[arg(long, value_parser = ["on", "off"])]
    focus: Option<String>,
}

impl ModelArgs {
    pub fn apply(&self, config: &mut EngineConfig) -> anyhow::Result<()> {
        if let Some(model) = &self.model {
            config.llm_path = model.clone();
        }
        config.llm_options.device = match self.device.as_str() {
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda,
            "metal" => DeviceChoice::Metal,
            _ => DeviceChoice::Auto,
        };
        config.llm_options.threads = self.threads;
        Ok(())
    }

    fn request(&self, question: &str) -> AskRequest {
        let mut request = AskRequest::new(question);
        request.top_k = self.top_k;
        request.sampling.temperature = self.temperature;
        request.sampling.seed = self.seed;
        request.sampling.max_new_tokens = self.max_tokens;
        if let Some(focus) = &self.focus {
            request.focus = focus == "on";
        }
        request
    }
}

fn citation_label(citation: &Citation) -> String {
    let mut label = terminal_safe_line(&citation.path).into_owned();
    if let Some(page) = citation.page {
        label.push_str(&format!(", page {page}"));
    }
    match (citation.line_start, citation.line_end) {
        (Some(start), Some(end)) if start != end => {
            label.push_str(&format!(", lines {start}-{end}"))
        }
        (Some(start), _) => label.push_str(&format!(", line {start}")),
        _ => {}
    }
    label
}

fn print_sources(answer: &Answer) {
    if !answer.found {
        if !answer.sources.is_empty() {
            println!("\nClosest passages:");
            for source in &answer.sources {
                println!("  [{}] {}", source.n, citation_label(source));
            }
        }
        return;
    }
    let (heading, list) = match answer.citation_mode {
        CitationMode::Model => ("Sources:", &answer.citations),
        CitationMode::Attributed => (
            "The model cited no source; the passages most similar to its answer:",
            &answer.attributed,
        ),
        CitationMode::None => (
            "The answer cites no source; the passages it was given:",
            &answer.sources,
        ),
    };
    println!("\n{heading}");
    for source in list {
        println!("  [{}] {}", source.n, citation_label(source));
    }
}

/// What `citations` lists follows `citation_mode`: the model's citations, the attributed
/// sources, or (with neither) every passage the model was given.
pub fn answer_json(answer: &Answer) -> serde_json::Value {
    let citations: Vec<_> = match answer.citation_mode {
        CitationMode::Model => &answer.citations,
        CitationMode::Attributed => &answer.attributed,
        CitationMode::None => &answer.sources,
    }
    .iter()
    .map(|c| {
        json!({
            "n": c.n,
            "path": c.path,
            "title": c.title,
            "page": c.page,
            "line_start": c.line_start,
            "line_end": c.line_end,
            "text": c.text,
        })
    })
    .collect();
    json!({
        "question": answer.question,
        "answer": answer.answer,
        "citations": citations,
        "cited": answer.cited,
        "citation_mode": answer.citation_mode.as_str(),
        "found": answer.found,
        "best_similarity": answer.best_similarity,
        "removed": answer.removed,
        "timings": {
            "retrieve_ms": answer.timings.retrieve_ms,
            "prompt_tokens": answer.timings.prompt_tokens,
            "first_token_ms": answer.timings.first_token_ms,
            "tokens_per_s": answer.timings.tokens_per_s,
        },
    })
}

/// Writes one streamed piece of the answer as it comes. Each piece is escaped on its own: an
/// escape sequence split over two tokens is two harmless halves, since every control
/// character is escaped wherever it stands.
fn write_piece(out: &mut impl Write, piece: &str) {
    let _ = out.write_all(terminal_safe(piece).as_bytes());
    let _ = out.flush();
}

pub fn ask(engine: &Engine, question: &str, args: &ModelArgs, json: bool) -> anyhow::Result<()> {
    let request = args.request(question);
    let cancel = CancelFlag::default();
    let mut stdout = std::io::stdout();
    let stream = !json;
    let answer = engine.ask(
        &request,
        &mut |piece| {
            if stream {
                write_piece(&mut stdout, piece);
            }
        },
        &cancel,
    )?;
    if json {
        crate::output::print_json(&answer_json(&answer));
    } else {
        println!();
        print_removed(&answer);
        print_sources(&answer);
    }
    Ok(())
}

/// Says what was taken out of the answer, so that a missing image or link is not a mystery.
fn print_removed(answer: &Answer) {
    if let Some(line) = removed_summary(&answer.removed) {
        println!("({line})");
    }
}

/// "Docent removed 1 image and 2 links from this answer", or `None` when nothing was removed.
pub fn removed_summary(removed: &[Removed]) -> Option<String> {
    if removed.is_empty() {
        return None;
    }
    let parts: Vec<String> = [
        (RemovedKind::Image, "image", "images"),
        (RemovedKind::Link, "link", "links"),
        (RemovedKind::Html, "HTML tag", "HTML tags"),
        (RemovedKind::SpecialToken, "special token", "special tokens"),
    ]
    .iter()
    .filter_map(|&(kind, one, many)| {
        let n = removed.iter().filter(|r| r.kind == kind).count();
        match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        }
    })
    .collect();
    let list = match parts.as_slice() {
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => unreachable!("removed is not empty"),
    };
    Some(format!(
        "Docent removed {list} from this answer: model output may not load or link anything"
    ))
}

pub fn chat(engine: &Engine, args: &ModelArgs, resume: Option<i64>) -> anyhow::Result<()> {
    let cancel = CancelFlag::default();
    let generating = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let generating = generating.clone();
        ctrlc::set_handler(move || {
            if generating.load(Ordering::SeqCst) {
                cancel.cancel();
            } else {
                println!();
                std::process::exit(130);
            }
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let mut conversation = match resume {
        Some(id) => {
            let messages = engine.conversation_messages(id)?;
            anyhow::ensure!(
                engine.conversations()?.iter().any(|c| c.id == id),
                "no conversation with id {id}"
            );
            println!("Resuming conversation {id} ({} messages).", messages.len());
            Some(id)
        }
        None => None,
    };
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        println!(
            "Ask about your documents. /sources shows the last sources, /new starts over, /quit leaves."
        );
    }
    let mut last: Option<Answer> = None;
    let stdin = std::io::stdin();
    loop {
        if interactive {
            print!("\n> ");
            std::io::stdout().flush()?;
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                conversation = None;
                last = None;
                println!("New conversation.");
                continue;
            }
            "/sources" => {
                match &last {
                    Some(answer) => print_sources(answer),
                    None => println!("No answer yet."),
                }
                continue;
            }
            _ => {}
        }
        let id = match conversation {
            Some(id) => id,
            None => {
                let title: String = line.chars().take(60).collect();
                let id = engine.create_conversation(&title)?;
                conversation = Some(id);
                id
            }
        };
        let mut request = args.request(line);
        request.conversation = Some(id);
        cancel.reset();
        generating.store(true, Ordering::SeqCst);
        let mut stdout = std::io::stdout();
        let result = engine.ask(
            &request,
            &mut |piece| write_piece(&mut stdout, piece),
            &cancel,
        );
        generating.store(false, Ordering::SeqCst);
        match result {
            Ok(answer) => {
                println!();
                if cancel.is_cancelled() {
                    println!("(stopped)");
                }
                match answer.citation_mode {
                    CitationMode::Attributed => println!(
                        "(the model cited no source: /sources shows the passages most similar to its answer)"
                    ),
                    CitationMode::None if answer.found => {
                        println!("(this answer cites no source: /sources shows what it was given)")
                    }
                    _ => {}
                }
                print_removed(&answer);
                if !answer.found && answer.answer != NOT_FOUND_ANSWER {
                    println!();
                }
                last = Some(answer);
            }
            Err(error) => eprintln!("docent: {}", terminal_safe(&error.to_string())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_pieces_carry_no_control_character() {
        let mut out = Vec::new();
        for piece in [
            "Set ",
            "\x1b]52;c;",
            "ZXZpbA==\x07",
            " and \x1b]8;;https://evil",
            "\x1b\\",
            "\u{9b}2J\r",
            "done.\n\tok",
        ] {
            write_piece(&mut out, piece);
        }
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "Set \\u{1b}]52;c;ZXZpbA==\\u{7} and \\u{1b}]8;;https://evil\\u{1b}\\\\u{9b}2J\\u{d}done.\n\tok"
        );
    }

    #[test]
    fn citation_labels_escape_the_path() {
        let citation = Citation {
            n: 1,
            path: "/docs/evil\x1b]52;c;eA==\x07\u{202e}fdp.exe\nfake line".to_owned(),
            title: None,
            page: Some(2),
            line_start: None,
            line_end: None,
            text: String::new(),
        };
        assert_eq!(
            citation_label(&citation),
            "/docs/evil\\u{1b}]52;c;eA==\\u{7}\\u{202e}fdp.exe\\u{a}fake line, page 2"
        );
    }
}
