//! Per-connection request budget: a token bucket refilled at `rate` per
//! second up to `burst`. A request over budget is answered `rate_limited`;
//! a client that keeps sending far past its budget is disconnected.
//!
//! "Far past" is measured by a second bucket that holds the refused
//! requests: each refusal adds one, and it drains at `rate` per second.
//! When it holds more than a burst (`max(burst, 50)`), the connection is
//! closed. Equivalently: over any span of `T` seconds a client may be
//! refused up to `max(burst, 50) + rate * T` requests, so a client sending
//! up to twice its rate is refused the excess and stays, while one sending
//! faster is closed: at 3 times its rate after about `burst / rate`
//! seconds (2 s at the defaults), at 100 times within tens of
//! milliseconds. Allowed requests do not empty that bucket, so no
//! interleaving of allowed and refused requests escapes it (counting
//! refusals "in a row" did: at 2000/s a token comes back every 0.5 ms).

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
    /// Refused requests not yet forgiven: one per refusal, draining at
    /// `rate` per second.
    refused: f64,
    /// More refused requests than this and the client is closed.
    max_refused: f64,
}

impl RateLimiter {
    pub fn new(rate: u32, burst: u32, now: Instant) -> RateLimiter {
        let burst = burst.max(1) as f64;
        RateLimiter {
            rate: rate.max(1) as f64,
            burst,
            tokens: burst,
            last: now,
            refused: 0.0,
            // A full burst's worth of refusals beyond what the rate
            // forgives, and never fewer than 50.
            max_refused: burst.max(50.0),
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refused = (self.refused - elapsed * self.rate).max(0.0);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        self.refused += 1.0;
        if self.refused > self.max_refused {
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
        // 100 ms later one token is back (and one refusal forgiven).
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.check(t1), Verdict::Allow);
        assert_eq!(rl.check(t1), Verdict::Reject);
        for _ in 0..49 {
            assert_eq!(rl.check(t1), Verdict::Reject);
        }
        assert_eq!(rl.check(t1), Verdict::Kick);
    }

    /// Sends `per_tick` requests every `tick` for `ticks` ticks; returns
    /// (allowed, refused, tick of the kick).
    fn drive(
        rl: &mut RateLimiter,
        t0: Instant,
        tick: Duration,
        per_tick: u32,
        ticks: u32,
    ) -> (u64, u64, Option<u32>) {
        let (mut allowed, mut refused) = (0, 0);
        for i in 0..ticks {
            let now = t0 + tick * i;
            for _ in 0..per_tick {
                match rl.check(now) {
                    Verdict::Allow => allowed += 1,
                    Verdict::Reject => refused += 1,
                    Verdict::Kick => return (allowed, refused, Some(i)),
                }
            }
        }
        (allowed, refused, None)
    }

    /// The probe's flood: 100 times the default rate, so that a token comes
    /// back between almost every two requests. Refusals "in a row" never
    /// reached a burst; the refused bucket fills in tens of milliseconds.
    #[test]
    fn a_flood_interleaved_with_refills_is_kicked() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(2000, 4000, t0);
        // 200 requests every millisecond: 200,000 a second.
        let (allowed, _, kicked) = drive(&mut rl, t0, Duration::from_millis(1), 200, 5_000);
        let at = kicked.expect("the flood was never cut off");
        assert!(at < 100, "kicked only after {at} ms");
        assert!(allowed <= 4000 + 2 * u64::from(at) + 2, "{allowed}");
    }

    #[test]
    fn three_times_the_rate_is_kicked_within_a_few_seconds() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(2000, 4000, t0);
        let (_, _, kicked) = drive(&mut rl, t0, Duration::from_millis(1), 6, 10_000);
        let at = kicked.expect("3x the rate was never cut off");
        assert!((2_000..4_000).contains(&at), "kicked after {at} ms");
    }

    /// Up to twice the rate, the excess is refused but the client stays
    /// (for a simulated minute); under the rate nothing is refused at all.
    #[test]
    fn up_to_twice_the_rate_stays_connected() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(2000, 4000, t0);
        let (allowed, refused, kicked) = drive(&mut rl, t0, Duration::from_millis(1), 3, 60_000);
        assert_eq!(kicked, None);
        assert!(refused > 50_000, "{refused}");
        assert!(allowed >= 120_000, "{allowed}");

        let mut rl = RateLimiter::new(2000, 4000, t0);
        // 19 requests every 10 ms: 1900 a second, after a full burst.
        for _ in 0..4000 {
            assert_eq!(rl.check(t0), Verdict::Allow);
        }
        let t1 = t0 + Duration::from_millis(10);
        let (_, refused, kicked) = drive(&mut rl, t1, Duration::from_millis(10), 19, 6_000);
        assert_eq!((refused, kicked), (0, None));
    }
}
