//! How a victim waits before each reconnection attempt: the terminal
//! client's full-jitter exponential backoff (crates/client/src/backoff.rs;
//! the client is a binary crate, so the formula is repeated here rather
//! than shared), or the old fixed one second, ±20%.

use std::time::Duration;

use clap::ValueEnum;
use serde::Serialize;

/// How a victim waits before each reconnection attempt (`--backoff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffKind {
    /// Full jitter: `random(0, min(30 s, 1 s × 2^n))` before attempt `n`
    /// (the terminal client's, crates/client/src/backoff.rs).
    #[default]
    New,
    /// About one second, ±20%, every time (what clients did before).
    Old,
}

/// The terminal client's backoff (crates/client/src/backoff.rs), and the
/// old fixed one. The client is a binary crate, so the formula is
/// repeated here rather than shared.
#[derive(Debug, Clone)]
pub struct Backoff {
    kind: BackoffKind,
    attempt: u32,
}

/// The first window of the full-jitter backoff; it doubles per failure.
pub const BASE: Duration = Duration::from_secs(1);
/// Its largest window.
pub const CAP: Duration = Duration::from_secs(30);

impl Backoff {
    pub fn new(kind: BackoffKind) -> Backoff {
        Backoff { kind, attempt: 0 }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The wait before the next attempt, drawn from `random` (uniform).
    pub fn next_with(&mut self, random: u64) -> Duration {
        match self.kind {
            BackoffKind::New => {
                let factor = 1u32 << self.attempt.min(16);
                let window = BASE.saturating_mul(factor).min(CAP);
                self.attempt = self.attempt.saturating_add(1);
                let nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(random % nanos.saturating_add(1))
            }
            BackoffKind::Old => {
                // 0.8 s to 1.2 s.
                Duration::from_millis(800 + random % 401)
            }
        }
    }
}

/// xorshift64*: a session's own randomness (jitter, schedule offset).
pub(super) fn next_random(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoffs_draw_from_their_windows() {
        let mut b = Backoff::new(BackoffKind::New);
        assert_eq!(b.next_with(0), Duration::ZERO);
        // The second window is 2 s: the largest draw is all of it.
        assert_eq!(b.next_with(2_000_000_000), Duration::from_secs(2));
        for _ in 0..10 {
            b.next_with(0);
        }
        assert!(b.next_with(u64::MAX) <= CAP);
        b.reset();
        assert_eq!(b.next_with(1_000_000_000), BASE);
        let mut old = Backoff::new(BackoffKind::Old);
        for r in [0, 400, 12345, u64::MAX] {
            let w = old.next_with(r);
            assert!(w >= Duration::from_millis(800) && w <= Duration::from_millis(1200));
        }
    }
}
