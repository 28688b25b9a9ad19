//! Signed, rate-limited, retried calls to the Core Services API.
//!
//! Data flow, per attempt: take an in-flight slot (bounded concurrency, so a burst of moves does
//! not open a connection per request) → get credentials from the provider → take a rate-limit
//! token → sign the exact body bytes and URL (`signer::sign_request`) → send with
//! `http::send_once` under the per-call timeout → on failure ask `retry::classify` and sleep a
//! full-jitter backoff (at least `Retry-After`), without holding the slot. A first 401 invalidates the provider's cached session and retries at once.
//! Mutating calls and every failure are logged with their `opc-request-id`.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Client, Method};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

use crate::auth::KeyProvider;
use crate::error::{ApiFailure, OciError};
use crate::http::{failure_from, send_once, signed_headers};
use crate::ratelimit::RateLimiter;
use crate::retry::{backoff_delay, classify, RetryDecision};
use crate::signer::{format_date, sign_request, HeaderSet};

/// Retry and timeout knobs.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per call, first included.
    pub max_attempts: u32,
    /// Backoff base.
    pub base: Duration,
    /// Backoff cap.
    pub max: Duration,
    /// Timeout of one attempt.
    pub call_timeout: Duration,
}

/// One request to make.
#[derive(Debug, Clone)]
pub struct Call {
    /// Operation name for logs and errors (`UpdatePrivateIp`).
    pub op: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Full URL with query.
    pub url: Url,
    /// JSON body bytes (POST/PUT).
    pub body: Option<Vec<u8>>,
    /// Extra unsigned headers (`if-match`, `opc-retry-token`).
    pub extra: Vec<(HeaderName, HeaderValue)>,
}

impl Call {
    /// A call without body or extra headers.
    pub fn new(op: &'static str, method: Method, url: Url) -> Self {
        Call {
            op,
            method,
            url,
            body: None,
            extra: Vec::new(),
        }
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `etag` header.
    pub etag: Option<String>,
    /// `opc-request-id` header.
    pub opc_request_id: Option<String>,
    /// `opc-next-page` header (pagination).
    pub next_page: Option<String>,
}

/// Why a call failed: OCI's (or the network's) answer, or a local problem (credentials).
#[derive(Debug)]
pub enum CallFailure {
    /// The exchange failed.
    Api(ApiFailure),
    /// Could not even send (credentials, signing, bad header).
    Local(OciError),
}

/// The signed transport shared by all calls of a client.
pub struct Transport {
    http: Client,
    provider: Arc<dyn KeyProvider>,
    limiter: RateLimiter,
    policy: RetryPolicy,
    in_flight: tokio::sync::Semaphore,
}

impl Transport {
    /// New transport allowing at most `max_in_flight` (at least 1) requests at once.
    pub fn new(
        http: Client,
        provider: Arc<dyn KeyProvider>,
        limiter: RateLimiter,
        policy: RetryPolicy,
        max_in_flight: usize,
    ) -> Self {
        Transport {
            http,
            provider,
            limiter,
            policy,
            in_flight: tokio::sync::Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// The auth provider (for policy hints).
    pub fn provider(&self) -> &Arc<dyn KeyProvider> {
        &self.provider
    }

    /// Executes `call` with retries.
    pub async fn execute(&self, call: &Call) -> Result<ApiResponse, CallFailure> {
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let result = self.attempt(call).await?;
            let failure = match result {
                Ok(resp) => {
                    if call.method != Method::GET {
                        tracing::info!(
                            op = call.op,
                            status = resp.status,
                            opc_request_id = resp.opc_request_id.as_deref().unwrap_or(""),
                            "OCI call succeeded"
                        );
                    }
                    return Ok(resp);
                }
                Err(f) => f,
            };
            let rid = failure.opc_request_id().unwrap_or("");
            if failure.status() == Some(401) && !reauthenticated {
                reauthenticated = true;
                tracing::warn!(
                    op = call.op,
                    opc_request_id = rid,
                    "OCI answered 401; refreshing credentials and retrying once"
                );
                self.provider.invalidate().await;
                attempt -= 1;
                continue;
            }
            let wait = match classify(&failure) {
                RetryDecision::Retry { min_wait } if attempt < self.policy.max_attempts => {
                    Some(backoff_delay(
                        attempt,
                        self.policy.base,
                        self.policy.max,
                        min_wait,
                        rand::random::<f64>(),
                    ))
                }
                _ => None,
            };
            // `wait_ms` is recorded only when the call is retried.
            tracing::warn!(
                op = call.op,
                attempt,
                status = failure.status().unwrap_or(0),
                code = failure.code().unwrap_or(""),
                opc_request_id = rid,
                wait_ms = wait.map(|w| w.as_millis() as u64),
                "{}",
                if wait.is_some() {
                    "OCI call failed; retrying"
                } else {
                    "OCI call failed"
                }
            );
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(CallFailure::Api(failure)),
            }
        }
    }

    /// One signed attempt. Outer error: could not send; inner: the exchange failed.
    async fn attempt(&self, call: &Call) -> Result<Result<ApiResponse, ApiFailure>, CallFailure> {
        // The semaphore is never closed; a closed one would only mean "no bound".
        let _slot = self.in_flight.acquire().await.ok();
        let creds = self
            .provider
            .credentials()
            .await
            .map_err(CallFailure::Local)?;
        // Taken last before signing, so the token's instant is the request's departure.
        self.limiter.acquire().await;
        let body = call.body.clone().unwrap_or_default();
        let date = format_date(SystemTime::now());
        let signed = sign_request(
            &creds.key_id,
            &creds.key,
            call.method.as_str(),
            &call.url,
            &body,
            &date,
            HeaderSet::Service,
        )
        .map_err(CallFailure::Local)?;
        let mut headers = signed_headers(&signed).map_err(CallFailure::Local)?;
        headers.extend(call.extra.iter().cloned());
        let send_body = signed.body.is_some().then_some(body);
        let resp = match send_once(
            &self.http,
            call.method.clone(),
            call.url.clone(),
            headers,
            send_body,
            self.policy.call_timeout,
        )
        .await
        {
            Ok(r) => r,
            Err(f) => return Ok(Err(f)),
        };
        if !resp.is_success() {
            return Ok(Err(failure_from(&resp)));
        }
        Ok(Ok(ApiResponse {
            status: resp.status,
            etag: resp.header("etag").map(str::to_string),
            opc_request_id: resp.request_id(),
            next_page: resp.header("opc-next-page").map(str::to_string),
            body: resp.body,
        }))
    }
}
