//! The AFL harness: `docent-fuzz TARGET` runs one target of `docent-fuzz-targets` in AFL's
//! persistent mode. Built and run by `scripts/fuzz`; reading stdin outside AFL replays one
//! input, which is how `scripts/fuzz --replay` reproduces a crash.

use docent_fuzz_targets::Target;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = Target::from_name(&name) else {
        let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
        eprintln!("usage: docent-fuzz TARGET (one of {})", names.join(", "));
        std::process::exit(2);
    };
    // Heavy one-time set-up (the embedding tokenizer) happens before the fork server starts.
    target.prepare();
    if std::env::var_os("__AFL_SHM_ID").is_some() {
        // Under AFL nobody reads the messages of panics the code catches itself (the PDF
        // loader catches pdf-extract's, as the app does); replays still print them.
        std::panic::set_hook(Box::new(|_| {}));
    }
    // `fuzz_nohook!`: a panic the code under test catches is its own business (`fuzz!` would
    // abort on every panic, caught or not); one that escapes a target aborts, which AFL
    // records as a crash.
    afl::fuzz_nohook!(|data: &[u8]| {
        target.run(data);
    });
}
