//! One call to an identity endpoint (IMDS, X.509 federation, the OKE proxymux) with the small
//! fixed retry those exchanges use.
//!
//! Data flow: the caller builds each attempt's headers (a federation signature carries the
//! date, so it is made again per attempt) → [`send_with_retries`] sends them and the body with
//! `http::send_once` → a 2xx answer is returned; any other outcome is retried, three attempts
//! in all, 400 then 800 ms apart, while `retry::classify` calls it transient, and otherwise
//! handed to the caller's `fail` to become its error, usually worded with [`describe`].

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, Method};
use std::time::Duration;
use url::Url;

use crate::error::{ApiFailure, OciError};
use crate::http::{failure_from, send_once, RawResponse};
use crate::retry::{classify, RetryDecision};

/// Attempts per identity call, first included.
const MAX_ATTEMPTS: u32 = 3;

/// Sends `method url` with `body` until it succeeds, fails for good, or [`MAX_ATTEMPTS`] are
/// spent; `headers` builds each attempt's headers, `fail` turns the last failure into the error.
pub(super) async fn send_with_retries(
    client: &Client,
    method: Method,
    url: &Url,
    body: Option<&[u8]>,
    timeout: Duration,
    mut headers: impl FnMut() -> Result<Vec<(HeaderName, HeaderValue)>, OciError>,
    fail: impl FnOnce(ApiFailure) -> OciError,
) -> Result<RawResponse, OciError> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let attempt_headers = headers()?;
        let sent = send_once(
            client,
            method.clone(),
            url.clone(),
            attempt_headers,
            body.map(<[u8]>::to_vec),
            timeout,
        )
        .await;
        let failure = match sent {
            Ok(r) if r.is_success() => return Ok(r),
            Ok(r) => failure_from(&r),
            Err(f) => f,
        };
        if attempt >= MAX_ATTEMPTS || classify(&failure) == RetryDecision::Fail {
            return Err(fail(failure));
        }
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
}

/// A failure in words for an error message: status, code, message and `opc-request-id`, or
/// the timeout or transport problem.
pub(super) fn describe(f: &ApiFailure) -> String {
    match f {
        ApiFailure::Status {
            status,
            code,
            message,
            opc_request_id,
            ..
        } => format!(
            "HTTP {status} {code} {message}{}",
            opc_request_id
                .as_ref()
                .map(|r| format!(" (opc-request-id {r})"))
                .unwrap_or_default()
        ),
        ApiFailure::Timeout(d) => format!("timed out after {d:?}"),
        ApiFailure::Transport(m) => m.clone(),
    }
}
