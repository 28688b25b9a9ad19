//! Per-object exponential backoff for transient reconcile errors.
//!
//! Data flow: the error policy asks [`Backoffs::next`] for the delay of the failing object (its
//! failure count doubles the delay, with ±20 % jitter, up to a cap); a successful reconcile
//! calls [`Backoffs::reset`]. One object's failures never slow another object down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// Pure: the delay after `failures` consecutive failures (1 = first), before jitter.
pub fn delay(failures: u32, base: Duration, max: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << exp).min(max)
}

/// Failure counts per object key.
#[derive(Debug)]
pub struct Backoffs {
    base: Duration,
    max: Duration,
    counts: Mutex<HashMap<String, u32>>,
}

impl Backoffs {
    /// Backoff starting at `base`, capped at `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failure of `key` and returns how long to wait before retrying it.
    pub fn next(&self, key: &str) -> Duration {
        let n = {
            let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let d = delay(n, self.base, self.max);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        d.mul_f64(jitter).min(self.max)
    }

    /// Forgets the failures of `key`.
    pub fn reset(&self, key: &str) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Duration::from_millis(500);
        let m = Duration::from_secs(60);
        assert_eq!(delay(1, b, m), Duration::from_millis(500));
        assert_eq!(delay(2, b, m), Duration::from_secs(1));
        assert_eq!(delay(4, b, m), Duration::from_secs(4));
        assert_eq!(delay(30, b, m), m);
    }

    #[test]
    fn per_object_and_reset() {
        let b = Backoffs::new(Duration::from_secs(1), Duration::from_secs(100));
        for _ in 0..4 {
            b.next("a");
        }
        let first_b = b.next("b");
        assert!(first_b <= Duration::from_millis(1200), "{first_b:?}");
        let a5 = b.next("a");
        assert!(a5 >= Duration::from_millis(12800), "{a5:?}");
        b.reset("a");
        assert!(b.next("a") <= Duration::from_millis(1200));
    }
}
