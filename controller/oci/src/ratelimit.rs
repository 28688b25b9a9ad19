//! Client-side token bucket shared by every call of one client (so by every VIP).
//!
//! Data flow: before each HTTP attempt the transport calls [`RateLimiter::acquire`], which
//! takes a token or sleeps until one is due. The bucket arithmetic is a pure struct
//! ([`TokenBucket`]) driven by explicit instants so it can be tested without sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token bucket state; pure, time passed in.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling `rate` tokens per second up to `burst`.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            },
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token at `now`, or says how long until one is available. A reservation model:
    /// when it returns a wait, the token is already taken (the balance goes negative), so
    /// concurrent callers queue fairly instead of all waking at once.
    pub fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Async wrapper shared through the client's `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<TokenBucket>,
}

impl RateLimiter {
    /// New limiter with `rate` requests per second and `burst`.
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            bucket: Mutex::new(TokenBucket::new(rate, burst, Instant::now())),
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        let wait = {
            let mut bucket = match self.bucket.lock() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            bucket.take(Instant::now())
        };
        if !wait.is_zero() {
            tracing::debug!(wait_ms = wait.as_millis() as u64, "client-side rate limit");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        assert_eq!(b.take(t0), Duration::ZERO);
        assert_eq!(b.take(t0), Duration::ZERO);
        assert_eq!(b.take(t0), Duration::ZERO);
        // Fourth and fifth wait 100 ms and 200 ms: reservations queue.
        let w4 = b.take(t0);
        let w5 = b.take(t0);
        assert!((w4.as_secs_f64() - 0.1).abs() < 1e-9, "{w4:?}");
        assert!((w5.as_secs_f64() - 0.2).abs() < 1e-9, "{w5:?}");
        // After a long idle period the bucket is full again but no fuller than burst.
        let t1 = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.take(t1), Duration::ZERO);
        }
        assert!(b.take(t1) > Duration::ZERO);
    }

    #[test]
    fn bad_rate_falls_back() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 0, t0);
        assert_eq!(b.take(t0), Duration::ZERO);
        assert_eq!(b.take(t0), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn limiter_spaces_calls() {
        let l = RateLimiter::new(50.0, 1);
        let start = Instant::now();
        for _ in 0..4 {
            l.acquire().await;
        }
        // 1 immediate + 3 × 20 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(55),
            "{:?}",
            start.elapsed()
        );
    }
}
