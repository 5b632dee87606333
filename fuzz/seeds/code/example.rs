//! A module.
use std::io;

/// Adds two numbers.
fn add(a: i32, b: i32) -> i32 {
    a + b
}

fn main() -> io::Result<()> {
    println!("{}", add(1, 2));
    Ok(())
}
