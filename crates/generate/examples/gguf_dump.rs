//! Prints a GGUF file's metadata (long arrays abbreviated) and tensor directory.
//!
//!     cargo run -p docent-generate --example gguf_dump -- MODEL.gguf

use docent_generate::gguf::{GgufFile, MetaValue};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: gguf_dump MODEL.gguf")?;
    let file = GgufFile::open(std::path::Path::new(&path))?;
    println!("{:#?}", file.summary());
    for (key, value) in &file.metadata {
        match value {
            MetaValue::Array(array) => println!("{key}: array of {}", array.len()),
            MetaValue::String(s) if s.len() > 200 => println!("{key}: string of {} bytes", s.len()),
            other => println!("{key}: {other:?}"),
        }
    }
    for tensor in &file.tensors {
        println!(
            "{} {:?} {} at {} ({} bytes)",
            tensor.name,
            tensor.dims,
            tensor.ggml_type.name(),
            tensor.offset,
            tensor.n_bytes
        );
    }
    Ok(())
}
