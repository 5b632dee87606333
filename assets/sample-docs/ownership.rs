//! Notes on Rust ownership, as runnable examples.
//!
//! Every value has exactly one owner. When the owner goes out of scope the value is dropped
//! and its memory is freed; there is no garbage collector.

/// Moving a String transfers ownership: the old binding can no longer be used.
fn take(s: String) -> usize {
    s.len()
} // `s` is dropped here and its heap buffer released.

/// Borrowing lends access without giving up ownership. Many shared borrows, or one mutable
/// borrow, but never both at once: the borrow checker enforces this at compile time.
fn measure(s: &str) -> usize {
    s.chars().count()
}

fn main() {
    let owned = String::from("hello");
    let n = measure(&owned); // borrowed, still usable
    let m = take(owned); // moved, `owned` is gone now
    println!("{n} {m}");
}
