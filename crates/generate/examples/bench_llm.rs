//! Times prompt processing and decoding on each CPU backend (and llama.cpp with `--reference`),
//! back to back, and prints a table.
//!
//!     cargo run --release -p docent-generate --example bench_llm -- MODEL.gguf \
//!         [--threads 1,2] [--prompt 128,1000] [--gen 128] [--backends docent,q8,candle,candle-q8] [--reference]

use docent_generate::bench::{bench_llm_with, reference_llm};
use docent_generate::{CpuBackend, DeviceChoice, LoadOptions, Requantize};

fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::to_string).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model =
        std::path::PathBuf::from(args.next().ok_or("usage: bench_llm MODEL.gguf [options]")?);
    let (mut threads, mut prompts, mut gen_tokens) =
        (vec!["2".to_string()], vec!["128".to_string()], 128usize);
    let mut backends = list("docent");
    let mut reference = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => threads = list(&args.next().ok_or("--threads N,M")?),
            "--prompt" => prompts = list(&args.next().ok_or("--prompt N,M")?),
            "--gen" => gen_tokens = args.next().ok_or("--gen N")?.parse()?,
            "--backends" => backends = list(&args.next().ok_or("--backends a,b")?),
            "--reference" => reference = true,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench-llm-reference");
    println!(
        "| engine | threads | prompt tokens | prompt tok/s | decode tok/s | first token ms | load ms |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|");
    for threads in &threads {
        let threads: usize = threads.parse()?;
        for prompt in &prompts {
            let prompt: usize = prompt.parse()?;
            if reference {
                let r = reference_llm(&script, &model, threads, prompt, gen_tokens)?;
                println!(
                    "| llama.cpp | {threads} | {prompt} | {:.1} | {:.1} | | |",
                    r.prompt_tokens_per_s, r.decode_tokens_per_s
                );
            }
            for backend in &backends {
                let (cpu_backend, requantize) = match backend.as_str() {
                    "docent" => (CpuBackend::Docent, Requantize::Auto),
                    "q8" => (CpuBackend::Docent, Requantize::Q8_0),
                    "candle" => (CpuBackend::Candle, Requantize::Auto),
                    other => return Err(format!("unknown backend {other}").into()),
                };
                let options = LoadOptions {
                    device: DeviceChoice::Cpu,
                    threads: Some(threads),
                    requantize,
                    cpu_backend,
                    ..LoadOptions::default()
                };
                let b = bench_llm_with(&model, &options, prompt, gen_tokens, 3)?;
                println!(
                    "| {backend} ({}) | {threads} | {prompt} | {:.1} | {:.1} | {:.0} | {:.0} |",
                    b.backend,
                    b.prompt_tokens_per_s,
                    b.decode_tokens_per_s,
                    b.first_token_ms,
                    b.load_ms
                );
            }
        }
    }
    Ok(())
}
