//! Per-connection request budget: a token bucket refilled at `rate` per
//! second up to `burst`. A request over budget is answered `rate_limited`;
//! a client that keeps sending far past its budget is disconnected.

use std::time::Instant;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Answer `rate_limited`.
    Reject,
    /// Answer `rate_limited` and close: the client ignores the limit.
    Kick,
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Rejections since the last allowed request.
    strikes: u32,
    max_strikes: u32,
}

impl RateLimiter {
    pub fn new(rate: u32, burst: u32, now: Instant) -> RateLimiter {
        let burst = burst.max(1) as f64;
        RateLimiter {
            rate: rate.max(1) as f64,
            burst,
            tokens: burst,
            last: now,
            strikes: 0,
            // "Far past": as many rejected requests in a row as a full burst,
            // and never fewer than 50.
            max_strikes: (burst as u32).max(50),
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.strikes = 0;
            return Verdict::Allow;
        }
        self.strikes += 1;
        if self.strikes > self.max_strikes {
            Verdict::Kick
        } else {
            Verdict::Reject
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate_then_kick() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, 5, t0);
        for _ in 0..5 {
            assert_eq!(rl.check(t0), Verdict::Allow);
        }
        assert_eq!(rl.check(t0), Verdict::Reject);
        // 100 ms later one token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.check(t1), Verdict::Allow);
        assert_eq!(rl.check(t1), Verdict::Reject);
        for _ in 0..49 {
            assert_eq!(rl.check(t1), Verdict::Reject);
        }
        assert_eq!(rl.check(t1), Verdict::Kick);
    }
}
