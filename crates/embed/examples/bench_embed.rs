//! Embedding speed, Docent's implementations against sentence-transformers, on identical texts:
//! what `docent bench embed` reports, runnable from this crate alone. Build it optimised
//! (`--release`, or in the dev profile with this crate at opt-level 3 as below: dev builds
//! compile workspace crates unoptimised, which halves the embedder's speed):
//!
//! ```text
//! cargo run -p docent-embed --example bench_embed \
//!     --config 'profile.dev.package.docent-embed.opt-level=3' -- \
//!     --threads 2 --n 1000 --python "$(scripts/bench-venv)" [--corpus corpus.jsonl]
//! ```
//!
//! `--impl packed,candle` picks the Rust side; `--python` adds the reference run of
//! scripts/bench-embed-st.py; `--dump-texts FILE` writes the texts as a JSON array;
//! `--repeat N` runs each side N times. Besides wall-clock speed it prints sentences per
//! CPU-second, which other programs on a shared machine disturb far less. The candle path's
//! pool size comes from RAYON_NUM_THREADS, read once, so this sets it from `--threads` before
//! anything touches candle.

use std::path::PathBuf;

use docent_embed::bench::{bench_candle, run_reference, sample_texts};
use docent_embed::{BertEmbedder, CandleBertEmbedder, EmbedConfig, Embedder, default_model_dir};

struct Args {
    n: usize,
    threads: usize,
    batch_size: usize,
    implementations: Vec<String>,
    corpus: Option<PathBuf>,
    python: Option<PathBuf>,
    repeat: usize,
    dump_texts: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args {
        n: 1000,
        threads: 2,
        batch_size: EmbedConfig::default().batch_size,
        implementations: vec!["packed".into()],
        corpus: None,
        python: None,
        repeat: 1,
        dump_texts: None,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--n" => args.n = value()?.parse()?,
            "--threads" => args.threads = value()?.parse()?,
            "--batch-size" => args.batch_size = value()?.parse()?,
            "--impl" => args.implementations = value()?.split(',').map(str::to_string).collect(),
            "--corpus" => args.corpus = Some(value()?.into()),
            "--python" => args.python = Some(value()?.into()),
            "--repeat" => args.repeat = value()?.parse()?,
            "--dump-texts" => args.dump_texts = Some(value()?.into()),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(args)
}

/// CPU seconds this process has used: unlike wall time, it does not count the time other
/// programs on a shared machine take from it.
#[allow(unsafe_code)]
fn process_cpu_seconds() -> f64 {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut time) };
    time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9
}

fn max_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // SAFETY: single-threaded here, before any thread or candle's pool exists.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    }
    let model_dir = default_model_dir();
    let texts = sample_texts(args.corpus.as_deref(), args.n)?;
    if let Some(path) = &args.dump_texts {
        std::fs::write(path, serde_json::to_string(&texts)?)?;
    }
    let mut rust_sample = None;
    for implementation in &args.implementations {
        let config = EmbedConfig {
            batch_size: args.batch_size,
            threads: args.threads,
            ..EmbedConfig::default()
        };
        let embedder: Box<dyn Embedder> = match implementation.as_str() {
            "packed" => Box::new(BertEmbedder::load(&model_dir, config)?),
            "candle" => Box::new(CandleBertEmbedder::load(&model_dir, config)?),
            other => return Err(format!("unknown implementation {other}").into()),
        };
        for _ in 0..args.repeat {
            let cpu_start = process_cpu_seconds();
            let result = bench_candle(embedder.as_ref(), &texts)?;
            let cpu_seconds = process_cpu_seconds() - cpu_start;
            println!(
                "{implementation:>8}  threads {}  batch {:>3}  {:>8.1} sentences/s  {:>7.2} s  \
                 ({:.1} sentences per CPU-second)",
                args.threads,
                args.batch_size,
                result.sentences_per_s,
                result.seconds,
                args.n as f64 / cpu_seconds
            );
            rust_sample = Some(result.vectors_sample);
        }
    }
    if let Some(python) = &args.python {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-embed-st.py");
        for _ in 0..args.repeat {
            let reference = run_reference(python, &script, &model_dir, &texts, args.threads)?;
            let difference = rust_sample
                .as_deref()
                .map_or(f32::NAN, |s| max_difference(s, &reference.vectors_sample));
            let per_cpu_second = reference
                .cpu_seconds
                .map_or(f64::NAN, |cpu| texts.len() as f64 / cpu);
            println!(
                "{:>8}  threads {}  batch  32  {:>8.1} sentences/s  {:>7.2} s  \
                 ({per_cpu_second:.1} sentences per CPU-second, max |diff| of sampled dims {difference:.1e})",
                "st", reference.threads, reference.sentences_per_s, reference.seconds
            );
        }
    }
    Ok(())
}
