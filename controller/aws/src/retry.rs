//! Retry policy: which failed attempts are tried again, and how long to wait.
//!
//! Data flow: the transport asks [`classify`] about each failed attempt; on `Retry` it sleeps
//! `pgvip_cloudkit::backoff::backoff_delay` (exponential, full jitter) and takes a fresh rate-limit token before the
//! next attempt, on `RefreshCredentials` it drops its cached credentials and tries once more at
//! once. Pure functions.

use crate::failure::{ApiFailure, AUTH_CODES, SERVER_CODES, THROTTLE_CODES};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after a backoff.
    Retry,
    /// The credentials (or the request's age) were rejected: refresh them and try once more.
    RefreshCredentials,
    /// Give up and surface the failure.
    Fail,
}

/// Retries throttling (`RequestLimitExceeded`, `Throttling`...), 5xx / `InternalError` /
/// `Unavailable`, timeouts and connection errors; refreshes credentials once for
/// `ExpiredToken`, `RequestExpired`, `AuthFailure` and the like; never retries other 4xx.
/// Every call this crate makes is safe to repeat (assigning with `AllowReassignment` to the same
/// interface and unassigning are idempotent in effect).
pub fn classify(failure: &ApiFailure) -> RetryDecision {
    match failure {
        ApiFailure::Timeout(_) | ApiFailure::Transport(_) => RetryDecision::Retry,
        ApiFailure::Status { status, code, .. } => {
            let c = code.as_str();
            if THROTTLE_CODES.contains(&c)
                || SERVER_CODES.contains(&c)
                || *status == 429
                || *status >= 500
            {
                RetryDecision::Retry
            } else if AUTH_CODES.contains(&c) {
                RetryDecision::RefreshCredentials
            } else {
                RetryDecision::Fail
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn st(status: u16, code: &str) -> ApiFailure {
        ApiFailure::Status {
            status,
            code: code.into(),
            message: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn classification_table() {
        use RetryDecision::*;
        let table = [
            (st(503, "RequestLimitExceeded"), Retry),
            (st(400, "RequestLimitExceeded"), Retry),
            (st(400, "Throttling"), Retry),
            (st(429, ""), Retry),
            (st(500, "InternalError"), Retry),
            (st(503, "Unavailable"), Retry),
            (st(502, ""), Retry),
            (st(504, ""), Retry),
            (st(400, "ExpiredToken"), RefreshCredentials),
            (st(400, "RequestExpired"), RefreshCredentials),
            (st(401, "AuthFailure"), RefreshCredentials),
            (st(403, "SignatureDoesNotMatch"), RefreshCredentials),
            (st(403, "UnauthorizedOperation"), Fail),
            (st(400, "InvalidParameterValue"), Fail),
            (st(400, "InvalidNetworkInterfaceID.NotFound"), Fail),
            (st(400, "PrivateIpAddressLimitExceeded"), Fail),
            (st(412, "DryRunOperation"), Fail),
            (ApiFailure::Timeout(Duration::from_secs(1)), Retry),
            (ApiFailure::Transport("connection refused".into()), Retry),
        ];
        for (failure, want) in table {
            assert_eq!(classify(&failure), want, "{failure:?}");
        }
    }
}
