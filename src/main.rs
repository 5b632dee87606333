//! `docent`: the command-line face of the engine. Parses flags, calls the engine, prints.

mod answer;
mod output;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use docent_engine::{
    AnswersBenchConfig, CancelFlag, DocFilter, DocStatus, DocType, Engine, EngineConfig,
    EngineError, InjectionBenchConfig, PromptLayout, SearchMode, SearchRequest, SourceDelimiters,
};

/// Docent: your files, indexed locally; search them and ask questions. Nothing leaves the machine.
#[derive(Parser, Debug)]
#[command(name = "docent", version, about, long_about = None)]
struct Cli {
    /// Where the library lives (database and indexes).
    #[arg(long, env = "DOCENT_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Where the models are.
    #[arg(long, env = "DOCENT_MODELS_DIR", global = true)]
    models_dir: Option<PathBuf>,
    /// More log output (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add files and folders to the library, or bring them up to date.
    Index {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Seconds a single file may take to parse.
        #[arg(long, default_value_t = 60)]
        parse_timeout: u64,
    },
    /// Search the library.
    Search {
        query: String,
        #[arg(long, default_value_t = 10)]
        top_k: usize,
        #[arg(long, default_value = "hybrid", value_parser = ["hybrid", "bm25", "vector"])]
        mode: String,
        /// Only documents at or under this path.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Only these document types (text, markdown, pdf, html, docx, code).
        #[arg(long = "type", value_parser = parse_doc_type)]
        doc_types: Vec<DocType>,
        /// Reciprocal rank fusion constant.
        #[arg(long, default_value_t = 60.0)]
        rrf_k: f32,
        #[arg(long, default_value_t = 1.0)]
        bm25_weight: f32,
        #[arg(long, default_value_t = 1.0)]
        vector_weight: f32,
        #[arg(long)]
        json: bool,
    },
    /// List the documents in the library.
    Docs {
        #[arg(long, value_parser = parse_status)]
        status: Option<DocStatus>,
        #[arg(long)]
        json: bool,
    },
    /// Remove files or folders from the library (the files on disk are not touched).
    Remove {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Counts, index sizes and models.
    Status {
        /// Also run SQLite's integrity check on the database (reads every page).
        #[arg(long)]
        check: bool,
        #[arg(long)]
        json: bool,
    },
    /// Answer a question from the library, citing the passages used.
    Ask {
        question: String,
        #[command(flatten)]
        model: answer::ModelArgs,
        #[arg(long)]
        json: bool,
    },
    /// A conversation with the library in the terminal (/sources, /new, /quit; Ctrl-C stops an answer).
    Chat {
        #[command(flatten)]
        model: answer::ModelArgs,
        /// Continue a stored conversation by its id.
        #[arg(long)]
        resume: Option<i64>,
    },
    /// Benchmarks: retrieval and answer quality, indexing and model speed.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Internal: serve parse requests on stdin/stdout (the sandboxed parser process).
    #[command(name = "__parse-worker", hide = true)]
    ParseWorker,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Answer-model speed: load time, prompt and decode tokens/s, time to first token.
    Llm {
        /// A GGUF file (default: the models folder's SmolLM2-135M-Instruct).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, value_delimiter = ',', default_value = "1,2")]
        threads: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "128,1000")]
        prompt: Vec<usize>,
        #[arg(long, default_value_t = 128)]
        gen_tokens: usize,
        /// scripts/bench-llm-reference, to run llama.cpp on the same file side by side.
        #[arg(long)]
        reference: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Embedding speed: Docent against sentence-transformers on the same texts and threads.
    Embed {
        /// How many texts of 40-60 words.
        #[arg(long, default_value_t = 1000)]
        sentences: usize,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Take the texts from this BEIR corpus.jsonl (default: generated text).
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// A Python with sentence-transformers (scripts/bench-embed sets one up); without it,
        /// only Docent is measured.
        #[arg(long)]
        python: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Answer quality on a committed question set: facts, citations, sources, not-found
    /// accuracy and speed, per variant (top-k, prompt layout, focus step).
    Answers {
        /// A folder with questions.json and corpus/.
        #[arg(long, default_value = "tests/data/answers")]
        dataset: PathBuf,
        /// Passages given to the model (several: compare).
        #[arg(long, value_delimiter = ',', default_value = "5")]
        top_k: Vec<usize>,
        /// The focus step (keep only the sentences of each source that bear on the question).
        #[arg(long, default_value = "both", value_parser = ["on", "off", "both"])]
        focus: String,
        /// Prompt layouts (user, system, system-cite, one-sentence, example-line, example-turn),
        /// or "all".
        #[arg(long, value_delimiter = ',', default_value = "user")]
        prompt: Vec<String>,
        /// Longest answer, in tokens.
        #[arg(long, default_value_t = 128)]
        max_tokens: usize,
        /// Scratch folder (default: a new folder under the system temp dir, removed after).
        #[arg(long)]
        scratch: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Prompt injection: how often the answer model follows instructions planted in documents
    /// (a fixed word, an image or link URL, a forged citation, special tokens), per way of
    /// delimiting the sources, before and after Docent neutralises the answer.
    Injection {
        /// A folder with cases.json and corpus/.
        #[arg(long, default_value = "tests/data/injection")]
        dataset: PathBuf,
        /// Sources delimiters to compare: fixed (the earlier layout) and nonce (the default).
        #[arg(long, value_delimiter = ',', default_value = "fixed,nonce",
              value_parser = ["fixed", "nonce"])]
        delimiters: Vec<String>,
        /// Longest answer, in tokens.
        #[arg(long, default_value_t = 96)]
        max_tokens: usize,
        /// Scratch folder (default: a new folder under the system temp dir, removed after).
        #[arg(long)]
        scratch: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Calibrate the not-found threshold on a BEIR data set: each test query's best passage
    /// similarity with its relevant documents in the corpus and with them left out.
    Threshold {
        /// A folder with corpus.jsonl, queries.jsonl and qrels/test.tsv.
        dir: PathBuf,
        /// Documents indexed besides the relevant ones (the first in corpus order).
        #[arg(long, default_value_t = 700)]
        distractors: usize,
        #[arg(long)]
        scratch: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Index a BEIR data set in a scratch folder; print nDCG@10, Recall@100 and throughput.
    Beir {
        /// A folder with corpus.jsonl, queries.jsonl and qrels/test.tsv.
        dir: PathBuf,
        /// Scratch folder (default: a new folder under the system temp dir, removed after).
        #[arg(long)]
        scratch: Option<PathBuf>,
        /// Chunk size in tokens (to compare settings).
        #[arg(long)]
        chunk_tokens: Option<usize>,
        /// Overlap between consecutive chunks in tokens.
        #[arg(long)]
        overlap_tokens: Option<usize>,
        #[arg(long)]
        json: bool,
    },
}

fn parse_doc_type(name: &str) -> Result<DocType, String> {
    DocType::parse(name).ok_or_else(|| {
        let names: Vec<&str> = DocType::ALL.iter().map(|t| t.as_str()).collect();
        format!("unknown type {name:?}; one of {}", names.join(", "))
    })
}

fn parse_status(name: &str) -> Result<DocStatus, String> {
    DocStatus::parse(name)
        .ok_or_else(|| format!("unknown status {name:?}; one of indexed, skipped, failed, pending"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::ParseWorker = cli.command {
        return match docent_engine::serve_parse_worker() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "docent: {}",
                output::terminal_safe(&output::error_chain(&error))
            );
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: in a pipe or a file they are bytes no one wants.
    let colours = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(move || output::LogWriter { colours })
        .init();
}

fn engine_config(cli: &Cli) -> EngineConfig {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(docent_engine::default_data_dir);
    let mut config = EngineConfig::new(data_dir);
    if let Some(models_dir) = &cli.models_dir {
        config.models_dir = models_dir.clone();
    }
    config
}

fn open_engine(config: EngineConfig) -> anyhow::Result<Engine> {
    let data_dir = config.data_dir.clone();
    Engine::open(config).map_err(|error| match error {
        EngineError::Busy { .. } | EngineError::DiskFull { .. } | EngineError::ReadOnly { .. } => {
            anyhow::Error::new(error)
        }
        other => anyhow::Error::new(other)
            .context(format!("cannot open the library in {}", data_dir.display())),
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = engine_config(&cli);
    match cli.command {
        Command::Index {
            paths,
            parse_timeout,
        } => {
            config.parse_timeout = std::time::Duration::from_secs(parse_timeout.max(1));
            let engine = open_engine(config)?;
            let cancel = CancelFlag::default();
            let progress = output::IndexProgress::new();
            let report = engine.index_paths(&paths, &progress, &cancel)?;
            progress.finish();
            output::print_index_report(&report);
        }
        Command::Search {
            query,
            top_k,
            mode,
            path,
            doc_types,
            rrf_k,
            bm25_weight,
            vector_weight,
            json,
        } => {
            let engine = open_engine(config)?;
            let mut request = SearchRequest::new(query);
            request.top_k = top_k;
            request.mode = SearchMode::parse(&mode).context("unknown search mode")?;
            request.path_prefix = path.map(|p| {
                p.canonicalize()
                    .unwrap_or_else(|_| std::path::absolute(&p).unwrap_or(p))
                    .to_string_lossy()
                    .into_owned()
            });
            request.doc_types = doc_types;
            request.rrf_k = rrf_k;
            request.bm25_weight = bm25_weight;
            request.vector_weight = vector_weight;
            let hits = engine.search(&request)?;
            if json {
                output::print_json(&output::search_json(&request.query, &hits));
            } else {
                output::print_hits(&hits);
            }
        }
        Command::Docs { status, json } => {
            let engine = open_engine(config)?;
            let docs = engine.documents(&DocFilter {
                status,
                path_prefix: None,
            })?;
            if json {
                output::print_json(&output::docs_json(&docs));
            } else {
                output::print_docs(&docs);
            }
        }
        Command::Remove { paths } => {
            let engine = open_engine(config)?;
            let removed = engine.remove(&paths)?;
            for path in &removed {
                println!("removed  {}", output::terminal_safe_line(path));
            }
            if removed.is_empty() {
                println!("nothing in the library matched");
            } else {
                println!("{} document(s) removed", removed.len());
            }
        }
        Command::Status { check, json } => {
            let engine = open_engine(config)?;
            let status = engine.status()?;
            let integrity = if check {
                Some(engine.check_consistency()?.sqlite_ok)
            } else {
                None
            };
            if json {
                output::print_json(&output::status_json(&status, integrity));
            } else {
                output::print_status(&status, integrity);
            }
        }
        Command::Bench(BenchCommand::Llm {
            model,
            threads,
            prompt,
            gen_tokens,
            reference,
            json,
        }) => {
            let model = model.unwrap_or_else(|| config.llm_path.clone());
            let rows = docent_engine::bench_llm(
                &model,
                &threads,
                &prompt,
                gen_tokens,
                reference.as_deref(),
            )?;
            if json {
                output::print_json(&output::llm_bench_json(&rows));
            } else {
                output::print_llm_bench(&model, &rows);
            }
        }
        Command::Bench(BenchCommand::Embed {
            sentences,
            threads,
            corpus,
            python,
            json,
        }) => {
            let report = docent_engine::bench_embed(
                &config.models_dir,
                corpus.as_deref(),
                sentences,
                threads,
                python.as_deref(),
            )?;
            if json {
                output::print_json(&output::embed_bench_json(&report));
            } else {
                output::print_embed_bench(&report);
            }
        }
        Command::Bench(BenchCommand::Beir {
            dir,
            scratch,
            chunk_tokens,
            overlap_tokens,
            json,
        }) => {
            if let Some(tokens) = chunk_tokens {
                config.chunk.max_tokens = tokens;
            }
            if let Some(tokens) = overlap_tokens {
                config.chunk.overlap_tokens = tokens;
            }
            let keep = scratch.is_some();
            let scratch = scratch.unwrap_or_else(docent_engine::default_scratch_dir);
            config.data_dir = scratch.clone();
            let progress = output::IndexProgress::new();
            let result = docent_engine::bench_beir(config, &dir, &progress);
            progress.finish();
            if !keep {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            let report = result?;
            if json {
                output::print_json(&output::beir_json(&report));
            } else {
                output::print_beir(&report);
            }
        }
        Command::Bench(BenchCommand::Answers {
            dataset,
            top_k,
            focus,
            prompt,
            max_tokens,
            scratch,
            json,
        }) => {
            let layouts = if prompt.iter().any(|p| p == "all") {
                PromptLayout::ALL.to_vec()
            } else {
                prompt
                    .iter()
                    .map(|name| {
                        PromptLayout::parse(name)
                            .with_context(|| format!("unknown prompt layout {name:?}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            };
            let focus = match focus.as_str() {
                "on" => vec![true],
                "off" => vec![false],
                _ => vec![false, true],
            };
            let bench = AnswersBenchConfig {
                dataset,
                top_k,
                focus,
                layouts,
                max_new_tokens: max_tokens,
            };
            let keep = scratch.is_some();
            let scratch = scratch.unwrap_or_else(docent_engine::default_scratch_dir);
            config.data_dir = scratch.clone();
            let progress = output::IndexProgress::new();
            let result = docent_engine::bench_answers(config, &bench, &progress);
            progress.finish();
            if !keep {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            let report = result?;
            if json {
                output::print_json(&output::answers_bench_json(&report));
            } else {
                output::print_answers_bench(&report);
            }
        }
        Command::Bench(BenchCommand::Injection {
            dataset,
            delimiters,
            max_tokens,
            scratch,
            json,
        }) => {
            let bench = InjectionBenchConfig {
                dataset,
                delimiters: delimiters
                    .iter()
                    .map(|d| match d.as_str() {
                        "fixed" => SourceDelimiters::Fixed,
                        _ => SourceDelimiters::Nonce,
                    })
                    .collect(),
                max_new_tokens: max_tokens,
            };
            let keep = scratch.is_some();
            let scratch = scratch.unwrap_or_else(docent_engine::default_scratch_dir);
            config.data_dir = scratch.clone();
            let progress = output::IndexProgress::new();
            let result = docent_engine::bench_injection(config, &bench, &progress);
            progress.finish();
            if !keep {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            let report = result?;
            if json {
                output::print_json(&serde_json::to_value(&report).expect("the report serialises"));
            } else {
                output::print_injection_bench(&report);
            }
        }
        Command::Bench(BenchCommand::Threshold {
            dir,
            distractors,
            scratch,
            json,
        }) => {
            let keep = scratch.is_some();
            let scratch = scratch.unwrap_or_else(docent_engine::default_scratch_dir);
            config.data_dir = scratch.clone();
            let progress = output::IndexProgress::new();
            let result = docent_engine::bench_threshold(config, &dir, distractors, &progress);
            progress.finish();
            if !keep {
                let _ = std::fs::remove_dir_all(&scratch);
            }
            let report = result?;
            if json {
                output::print_json(&output::threshold_bench_json(&report));
            } else {
                output::print_threshold_bench(&report);
            }
        }
        Command::Ask {
            question,
            model,
            json,
        } => {
            model.apply(&mut config)?;
            let engine = open_engine(config)?;
            answer::ask(&engine, &question, &model, json)?;
        }
        Command::Chat { model, resume } => {
            model.apply(&mut config)?;
            let engine = open_engine(config)?;
            answer::chat(&engine, &model, resume)?;
        }
        Command::ParseWorker => unreachable!("handled before the engine starts"),
    }
    Ok(ExitCode::SUCCESS)
}
