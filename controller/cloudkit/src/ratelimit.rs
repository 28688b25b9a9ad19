//! Client-side token bucket shared by every call of one client (so by every VIP).
//!
//! Data flow: before each HTTP attempt the transport calls [`RateLimiter::acquire`]. Callers
//! queue in FIFO order on an async mutex; the head of the queue takes a token when the bucket
//! has one, else sleeps until one is due and checks again. Tokens are only taken when the
//! caller is about to send, never reserved ahead: if the process stalls (CPU contention, a
//! paused runtime), the callers that were waiting do not all fire at once when it resumes, so
//! the rate the cloud API sees stays within `burst + rate × t` for any window `t`. The bucket arithmetic
//! is a pure struct ([`TokenBucket`]) driven by explicit instants, testable without sleeping.

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

    /// Takes one token at `now` (`Ok`), or says how long until one is available (`Err`,
    /// nothing taken: ask again then).
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Async wrapper shared through the client's `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Mutex<TokenBucket>,
    /// FIFO queue of waiting callers (tokio's mutex is fair).
    queue: tokio::sync::Mutex<()>,
}

impl RateLimiter {
    /// New limiter with `rate` requests per second and `burst`.
    pub fn new(rate: f64, burst: u32) -> Self {
        RateLimiter {
            bucket: Mutex::new(TokenBucket::new(rate, burst, Instant::now())),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for a token, behind every caller that asked earlier.
    pub async fn acquire(&self) {
        let _turn = self.queue.lock().await;
        loop {
            let r = {
                let mut bucket = match self.bucket.lock() {
                    Ok(b) => b,
                    Err(poisoned) => poisoned.into_inner(),
                };
                bucket.try_take(Instant::now())
            };
            match r {
                Ok(()) => return,
                Err(wait) => {
                    tracing::debug!(wait_ms = wait.as_millis() as u64, "client-side rate limit");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(d: Duration, secs: f64) -> bool {
        (d.as_secs_f64() - secs).abs() < 1e-9
    }

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.try_take(t0), Ok(()));
        }
        // Empty: the next token is 100 ms away, and asking again does not push it further.
        let w = b.try_take(t0).unwrap_err();
        assert!(close(w, 0.1), "{w:?}");
        let w = b.try_take(t0 + Duration::from_millis(40)).unwrap_err();
        assert!(close(w, 0.06), "{w:?}");
        assert_eq!(b.try_take(t0 + Duration::from_millis(100)), Ok(()));
        // After a long idle period the bucket is full again but no fuller than burst.
        let t1 = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.try_take(t1), Ok(()));
        }
        assert!(b.try_take(t1).is_err());
    }

    #[test]
    fn taken_tokens_never_exceed_burst_plus_rate_times_window() {
        // Callers ask every 7 ms for 2 s (with a 300 ms stall in the middle where nobody asks);
        // in every 500 ms window at most burst + rate × 0.5 s tokens are handed out.
        let (rate, burst) = (20.0, 4u32);
        let t0 = Instant::now();
        let mut b = TokenBucket::new(rate, burst, t0);
        let mut taken = Vec::new();
        let mut t = 0u64;
        while t < 2000 {
            if !(800..1100).contains(&t) {
                let now = t0 + Duration::from_millis(t);
                if b.try_take(now).is_ok() {
                    taken.push(t);
                }
            }
            t += 7;
        }
        for (i, start) in taken.iter().enumerate() {
            let n = taken[i..].iter().take_while(|x| **x < start + 500).count();
            assert!(
                n as f64 <= f64::from(burst) + rate * 0.5,
                "{n} from {start} ms"
            );
        }
        assert!(taken.len() >= 40, "{}", taken.len());
    }

    #[test]
    fn bad_rate_falls_back() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 0, t0);
        assert_eq!(b.try_take(t0), Ok(()));
        assert_eq!(b.try_take(t0), Err(Duration::from_secs(1)));
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
