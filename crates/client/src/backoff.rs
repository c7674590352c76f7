//! How long to wait before each reconnection attempt: exponential backoff
//! with full jitter, `random(0, min(cap, base * 2^n))` before attempt `n`.
//!
//! Full jitter (rather than a few percent around the exponential curve)
//! matters when a server restarts under many clients: they all lose the
//! connection at the same instant, and their first attempts must spread
//! over the whole window instead of arriving together.

use std::time::Duration;

/// The window of the first attempt; it doubles after each failure.
pub const BASE: Duration = Duration::from_secs(1);
/// The largest window.
pub const CAP: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::new()
    }
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff { attempt: 0 }
    }

    /// Back to the first window (after a successful reconnection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The window of the next attempt: `min(CAP, BASE * 2^n)`.
    pub fn window(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(16);
        BASE.saturating_mul(factor).min(CAP)
    }

    /// The wait before the next attempt, drawn from `random` (a uniform
    /// u64); each call moves on to the next window.
    pub fn next_with(&mut self, random: u64) -> Duration {
        let window = self.window();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        // `random % (nanos + 1)` is 0..=nanos: the whole window.
        Duration::from_nanos(random % nanos.saturating_add(1))
    }

    /// The wait before the next attempt, with the system's randomness.
    pub fn next(&mut self) -> Duration {
        // Without randomness (it never fails on Linux) waiting the whole
        // window is safe: it only delays.
        let random = getrandom::u64().unwrap_or(u64::MAX);
        self.next_with(random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_up_to_the_cap() {
        let mut b = Backoff::new();
        let windows: Vec<u64> = (0..8)
            .map(|_| {
                let w = b.window().as_secs();
                b.next_with(0);
                w
            })
            .collect();
        assert_eq!(windows, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.window(), BASE);
    }

    #[test]
    fn waits_cover_the_whole_window() {
        let mut b = Backoff::new();
        assert_eq!(b.next_with(0), Duration::ZERO);
        b.reset();
        assert_eq!(b.next_with(1_000_000_000), BASE);
        // Many clients starting together spread over [0, window]: with
        // the system's randomness, 1,000 first waits are not bunched.
        let waits: Vec<Duration> = (0..1000).map(|_| Backoff::new().next()).collect();
        assert!(waits.iter().all(|w| *w <= BASE));
        let early = waits.iter().filter(|w| **w < BASE / 5).count();
        // Expected 200 (a fifth); ±20% jitter around 1 s would give 0.
        assert!(
            (100..=300).contains(&early),
            "{early} of 1000 within 200 ms"
        );
        // Far into an outage the waits stay within the cap.
        let mut far = Backoff::new();
        for _ in 0..100 {
            assert!(far.next() <= CAP);
        }
    }
}
