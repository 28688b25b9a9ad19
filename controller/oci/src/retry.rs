//! Retry policy: which failures are retried and how long to wait.
//!
//! Data flow: the transport asks [`classify`] about each failed attempt and, when it says
//! retry, sleeps [`backoff_delay`] (full jitter, at least `Retry-After`). Pure functions.

use std::time::Duration;

use crate::error::ApiFailure;

// The generic backoff arithmetic lives in pgvip-cloudkit (shared with pgvip-aws); these paths stay.
pub use pgvip_cloudkit::backoff::{backoff_ceiling, backoff_delay, parse_retry_after};

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
}
