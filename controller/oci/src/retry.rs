//! Retry policy: which failures are retried and how long to wait.
//!
//! Data flow: the transport asks [`classify`] about each failed attempt and, when it says
//! retry, sleeps [`backoff_delay`] (full jitter, at least `Retry-After`). Pure functions.

use std::time::Duration;

use crate::error::ApiFailure;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again, waiting at least `min_wait` (from `Retry-After`).
    Retry {
        /// Lower bound on the wait, from `Retry-After`.
        min_wait: Option<Duration>,
    },
    /// Give up and surface the failure.
    Fail,
}

/// Retry 429, 5xx except 501, timeouts, connection errors and 409 `IncorrectState`;
/// never other 4xx (400, 401, 404, 409 Conflict, 412 NoEtagMatch...).
pub fn classify(failure: &ApiFailure) -> RetryDecision {
    match failure {
        ApiFailure::Timeout(_) | ApiFailure::Transport(_) => {
            RetryDecision::Retry { min_wait: None }
        }
        ApiFailure::Status {
            status,
            code,
            retry_after,
            ..
        } => match *status {
            429 => RetryDecision::Retry {
                min_wait: *retry_after,
            },
            501 => RetryDecision::Fail,
            500..=599 => RetryDecision::Retry {
                min_wait: *retry_after,
            },
            409 if code == "IncorrectState" => RetryDecision::Retry { min_wait: None },
            _ => RetryDecision::Fail,
        },
    }
}

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

/// Parses `Retry-After` given in seconds (the HTTP-date form is ignored).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let v = value?.trim();
    v.parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(300)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: u16, code: &str, retry_after: Option<u64>) -> ApiFailure {
        ApiFailure::Status {
            status,
            code: code.into(),
            message: String::new(),
            opc_request_id: None,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn classification_table() {
        let retry = RetryDecision::Retry { min_wait: None };
        let table = [
            (st(429, "TooManyRequests", None), retry),
            (
                st(429, "TooManyRequests", Some(3)),
                RetryDecision::Retry {
                    min_wait: Some(Duration::from_secs(3)),
                },
            ),
            (st(500, "InternalServerError", None), retry),
            (st(502, "", None), retry),
            (st(503, "ServiceUnavailable", None), retry),
            (st(504, "", None), retry),
            (st(501, "MethodNotImplemented", None), RetryDecision::Fail),
            (st(409, "IncorrectState", None), retry),
            (st(409, "Conflict", None), RetryDecision::Fail),
            (st(412, "NoEtagMatch", None), RetryDecision::Fail),
            (st(400, "InvalidParameter", None), RetryDecision::Fail),
            (st(401, "NotAuthenticated", None), RetryDecision::Fail),
            (
                st(404, "NotAuthorizedOrNotFound", None),
                RetryDecision::Fail,
            ),
            (ApiFailure::Timeout(Duration::from_secs(1)), retry),
            (ApiFailure::Transport("connection refused".into()), retry),
        ];
        for (failure, want) in table {
            assert_eq!(classify(&failure), want, "{failure:?}");
        }
    }

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
            for unit in [0.0, 0.25, 0.5, 0.999_999] {
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
