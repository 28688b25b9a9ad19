//! Signed, rate-limited, retried Query API calls to the EC2 endpoint.
//!
//! Data flow, per attempt: credentials from the cache → a rate-limit token (taken last, so its
//! instant is the request's departure) → SigV4 over the exact body bytes (`signer`) → one POST
//! with reqwest under the per-attempt timeout → a 2xx body for the caller, or an
//! [`ApiFailure`] parsed from the `<Errors>` document. On failure `retry::classify` decides:
//! retry after a full-jitter backoff (each retry takes a fresh token, so retries stay within the
//! client-side rate limit), refresh the credentials once and retry at once, or give up.
//! Mutations and failures are logged with their request id; credentials and signatures never.

use std::time::{Duration, SystemTime};

use pgvip_cloudkit::backoff::backoff_delay;
use pgvip_cloudkit::ratelimit::RateLimiter;
use reqwest::Client;
use url::Url;

use crate::credentials::CredentialCache;
use crate::error::{AwsError, Op};
use crate::failure::ApiFailure;
use crate::query::{QueryBody, CONTENT_TYPE};
use crate::retry::{classify, RetryDecision};
use crate::signer::{sign_post, EC2_SERVICE};
use crate::xml::parse_error;

/// Retry and timeout knobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts per call, first included.
    pub max_attempts: u32,
    /// Backoff base.
    pub base: Duration,
    /// Backoff cap.
    pub max: Duration,
    /// Timeout of one attempt.
    pub call_timeout: Duration,
}

/// A 2xx answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// The XML body.
    pub body: String,
}

/// Why a call failed: EC2's (or the network's) answer, or a local problem (credentials,
/// signing) that prevented sending.
#[derive(Debug)]
pub(crate) enum CallFailure {
    /// The exchange failed.
    Api(ApiFailure),
    /// Could not send.
    Local(AwsError),
}

/// The transport shared by all calls of a client.
pub(crate) struct Transport {
    http: Client,
    endpoint: Url,
    region: String,
    creds: CredentialCache,
    limiter: RateLimiter,
    policy: RetryPolicy,
}

/// Builds the reqwest client for EC2: public roots plus the extra CA bundle.
pub(crate) fn build_http(extra_ca_pem: Option<&[u8]>) -> Result<Client, AwsError> {
    let mut b = Client::builder()
        .use_rustls_tls()
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("pgvip-aws/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| AwsError::Config(format!("CA bundle is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(AwsError::Config("CA bundle holds no certificate".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| AwsError::Config(format!("cannot build HTTP client: {e}")))
}

impl Transport {
    /// A transport to `endpoint`, signing for `region`.
    pub fn new(
        http: Client,
        endpoint: Url,
        region: String,
        creds: CredentialCache,
        limiter: RateLimiter,
        policy: RetryPolicy,
    ) -> Self {
        Transport {
            http,
            endpoint,
            region,
            creds,
            limiter,
            policy,
        }
    }

    /// The endpoint in use.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The region signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Calls `op` with `body`, retrying as [`classify`] says.
    pub async fn call(&self, op: Op, body: &QueryBody) -> Result<Reply, CallFailure> {
        let bytes = body.encode().into_bytes();
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let failure = match self.attempt(&bytes).await? {
                Ok((reply, request_id)) => {
                    if op.mutates() {
                        tracing::info!(
                            op = op.action(),
                            request_id = request_id.as_deref().unwrap_or(""),
                            dry_run = body.get("DryRun") == Some("true"),
                            "EC2 call succeeded"
                        );
                    }
                    return Ok(reply);
                }
                Err(f) => f,
            };
            let decision = classify(&failure);
            if decision == RetryDecision::RefreshCredentials && !refreshed {
                refreshed = true;
                tracing::warn!(
                    op = op.action(),
                    code = failure.code().unwrap_or(""),
                    request_id = failure.request_id().unwrap_or(""),
                    "EC2 rejected the credentials; reloading them and retrying once"
                );
                self.creds.invalidate().await;
                attempt -= 1;
                continue;
            }
            let wait = (decision == RetryDecision::Retry && attempt < self.policy.max_attempts)
                .then(|| {
                    backoff_delay(
                        attempt,
                        self.policy.base,
                        self.policy.max,
                        None,
                        rand::random::<f64>(),
                    )
                });
            if failure.code() == Some("DryRunOperation") {
                // The answer a permission check hopes for; not worth a warning.
                tracing::debug!(
                    op = op.action(),
                    request_id = failure.request_id().unwrap_or(""),
                    "DryRunOperation"
                );
            } else {
                // `wait_ms` is recorded only when the call is retried.
                tracing::warn!(
                    op = op.action(),
                    attempt,
                    status = failure.status().unwrap_or(0),
                    code = failure.code().unwrap_or(""),
                    request_id = failure.request_id().unwrap_or(""),
                    wait_ms = wait.map(|w| w.as_millis() as u64),
                    "{}",
                    if wait.is_some() {
                        "EC2 call failed; retrying"
                    } else {
                        "EC2 call failed"
                    }
                );
            }
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => return Err(CallFailure::Api(failure)),
            }
        }
    }

    /// One signed attempt. Outer error: could not send; inner: the exchange failed.
    #[allow(clippy::type_complexity)]
    async fn attempt(
        &self,
        body: &[u8],
    ) -> Result<Result<(Reply, Option<String>), ApiFailure>, CallFailure> {
        let creds = self.creds.get().await.map_err(CallFailure::Local)?;
        self.limiter.acquire().await;
        let signed = sign_post(
            &creds,
            &self.region,
            EC2_SERVICE,
            &self.endpoint,
            body,
            SystemTime::now(),
        )
        .map_err(CallFailure::Local)?;
        let mut req = self
            .http
            .post(self.endpoint.clone())
            .timeout(self.policy.call_timeout)
            .header("content-type", CONTENT_TYPE)
            .body(body.to_vec());
        for (name, value) in signed {
            req = req.header(name, value);
        }
        let timeout = self.policy.call_timeout;
        let exchange = async {
            let resp = req.send().await.map_err(|e| map_reqwest(e, timeout))?;
            let status = resp.status().as_u16();
            let header_rid = resp
                .headers()
                .get("x-amzn-requestid")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = resp.text().await.map_err(|e| map_reqwest(e, timeout))?;
            Ok::<_, ApiFailure>((status, header_rid, text))
        };
        let (status, header_rid, text) = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(f)) => return Ok(Err(f)),
            Err(_) => return Ok(Err(ApiFailure::Timeout(timeout))),
        };
        if (200..300).contains(&status) {
            let rid = crate::xml::parse_ack(&text)
                .ok()
                .and_then(|a| a.request_id)
                .or(header_rid);
            return Ok(Ok((Reply { body: text }, rid)));
        }
        Ok(Err(failure_from(status, header_rid, &text)))
    }
}

/// The failure for a non-2xx answer: its `<Errors>` document when there is one, else the start
/// of the body as the message. GUESS: EC2 puts the request id in the body; the
/// `x-amzn-RequestId` header other AWS services send is only a fallback.
pub(crate) fn failure_from(status: u16, header_rid: Option<String>, body: &str) -> ApiFailure {
    match parse_error(body) {
        Some(doc) => ApiFailure::Status {
            status,
            code: doc.code,
            message: doc.message,
            request_id: doc.request_id.or(header_rid),
        },
        None => ApiFailure::Status {
            status,
            code: String::new(),
            message: body.chars().take(300).collect(),
            request_id: header_rid,
        },
    }
}

fn map_reqwest(e: reqwest::Error, timeout: Duration) -> ApiFailure {
    if e.is_timeout() {
        return ApiFailure::Timeout(timeout);
    }
    // Walk the source chain (TLS errors hide two levels down). reqwest errors carry the URL,
    // never headers, so no signature can leak here.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ApiFailure::Transport(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_from_bodies() {
        let body = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
        assert_eq!(
            failure_from(503, Some("h-1".into()), body),
            ApiFailure::Status {
                status: 503,
                code: "RequestLimitExceeded".into(),
                message: "Request limit exceeded.".into(),
                request_id: Some("r-1".into()),
            }
        );
        match failure_from(502, Some("h-2".into()), "<html>Bad Gateway</html>") {
            ApiFailure::Status {
                code,
                message,
                request_id,
                ..
            } => {
                assert_eq!(code, "");
                assert!(message.contains("Bad Gateway"));
                assert_eq!(request_id.as_deref(), Some("h-2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_trust_options() {
        assert!(build_http(None).is_ok());
        assert_eq!(build_http(Some(b"nope")).unwrap_err().category(), "config");
    }
}
