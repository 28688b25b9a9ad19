//! Exponential backoff with full jitter, and `Retry-After` parsing.
//!
//! Data flow: a transport that decided to retry an attempt asks [`backoff_delay`] how long to
//! sleep, passing its own randomness (`unit`) so that the arithmetic stays pure and testable;
//! servers that send `Retry-After` in seconds give a floor through [`parse_retry_after`].

use std::time::Duration;

/// Upper bound of the wait before retry number `attempt` (1 = first retry): `base * 2^(attempt-1)`,
/// capped at `max`.
pub fn backoff_ceiling(attempt: u32, base: Duration, max: Duration) -> Duration {
    let shift = attempt.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << shift).min(max)
}

/// Full jitter: uniform in `[0, ceiling]` (`unit` in `[0,1)` supplies the randomness), then at
/// least `min_wait` (Retry-After), never more than `max.max(min_wait)`.
pub fn backoff_delay(
    attempt: u32,
    base: Duration,
    max: Duration,
    min_wait: Option<Duration>,
    unit: f64,
) -> Duration {
    let ceiling = backoff_ceiling(attempt, base, max);
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    match min_wait {
        Some(m) => jittered.max(m),
        None => jittered,
    }
}

/// Parses `Retry-After` given in seconds (the HTTP-date form is ignored), capped at 300 s.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let v = value?.trim();
    v.parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_bounds() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(backoff_ceiling(1, base, max), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(2, base, max), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(4, base, max), Duration::from_millis(800));
        assert_eq!(backoff_ceiling(6, base, max), max);
        assert_eq!(backoff_ceiling(u32::MAX, base, max), max);
        for attempt in 1..10 {
            for unit in [-1.0, 0.0, 0.25, 0.5, 0.999_999, 7.0] {
                let d = backoff_delay(attempt, base, max, None, unit);
                assert!(d <= backoff_ceiling(attempt, base, max));
            }
        }
        assert_eq!(backoff_delay(3, base, max, None, 0.0), Duration::ZERO);
        assert_eq!(
            backoff_delay(3, base, max, None, 0.5),
            Duration::from_millis(200)
        );
        // Retry-After is a floor, even above the cap.
        let ra = Some(Duration::from_secs(5));
        assert_eq!(backoff_delay(1, base, max, ra, 0.9), Duration::from_secs(5));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(Some(" 10 ")),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(Some("99999")),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }
}
