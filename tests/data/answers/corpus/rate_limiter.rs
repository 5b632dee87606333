//! Request rate limiting for the public API.
//!
//! Each API key may make at most 120 requests per minute, with bursts of up to 20 requests
//! allowed on top of the steady rate. Requests over the limit get HTTP status 429 and a
//! `Retry-After` header in seconds.

use std::time::{Duration, Instant};

/// Steady rate per API key.
pub const REQUESTS_PER_MINUTE: u32 = 120;
/// Extra requests a key may make at once before it is throttled.
pub const BURST: u32 = 20;

/// A token bucket: refilled continuously at the steady rate, holding at most `BURST` extra.
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(now: Instant) -> Bucket {
        Bucket { tokens: BURST as f64, last: now }
    }

    /// Takes one token, or says how long to wait for the next one.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let per_second = REQUESTS_PER_MINUTE as f64 / 60.0;
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(BURST as f64);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / per_second))
        }
    }
}
