//! A bare parse worker, for this crate's own tests (the docent binary serves the same protocol
//! as `docent __parse-worker`).

fn main() -> std::io::Result<()> {
    docent_ingest::worker::serve_stdio()
}
