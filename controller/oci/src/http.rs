//! Low-level HTTP: building reqwest clients with the right trust, sending one request, and
//! turning a non-2xx answer into an [`ApiFailure`].
//!
//! Data flow: callers pass fully prepared bytes and headers; [`send_once`] sends them exactly
//! (so what was signed is what goes on the wire) under a timeout and returns status, headers
//! and body, or a timeout/transport failure.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method};
use std::time::Duration;
use url::Url;

use crate::error::{ApiFailure, OciError};
use crate::retry::parse_retry_after;
use crate::signer::SignedHeaders;

/// Which roots a client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Public web roots plus the given extra CAs.
    PublicPlus,
    /// Only the given CAs (workload identity proxymux: the service-account CA).
    Only,
}

/// Builds a client. `ca_pem` may hold several certificates.
pub fn build_client(
    ca_pem: Option<&[u8]>,
    trust: Trust,
    use_proxy: bool,
) -> Result<Client, OciError> {
    let mut b = Client::builder()
        .use_rustls_tls()
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("pgvip-oci/", env!("CARGO_PKG_VERSION")));
    if !use_proxy {
        b = b.no_proxy();
    }
    if trust == Trust::Only {
        b = b.tls_built_in_root_certs(false);
    }
    if let Some(pem) = ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| OciError::Config(format!("CA bundle is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(OciError::Config("CA bundle holds no certificate".into()));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    } else if trust == Trust::Only {
        return Err(OciError::Config("a CA bundle is required".into()));
    }
    b.build()
        .map_err(|e| OciError::Config(format!("cannot build HTTP client: {e}")))
}

/// A completed exchange (any status).
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `opc-request-id`.
    pub fn request_id(&self) -> Option<String> {
        self.header("opc-request-id").map(str::to_string)
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends one request with exactly these headers and body bytes.
pub async fn send_once(
    client: &Client,
    method: Method,
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<RawResponse, ApiFailure> {
    let mut req = client.request(method, url).timeout(timeout);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let exchange = async {
        let resp = req.send().await.map_err(|e| map_reqwest(e, timeout))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| map_reqwest(e, timeout))?;
        Ok(RawResponse {
            status,
            headers,
            body: body.to_vec(),
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(r) => r,
        Err(_) => Err(ApiFailure::Timeout(timeout)),
    }
}

fn map_reqwest(e: reqwest::Error, timeout: Duration) -> ApiFailure {
    if e.is_timeout() {
        return ApiFailure::Timeout(timeout);
    }
    // Walk the source chain for a useful message (TLS errors hide two levels down).
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ApiFailure::Transport(msg)
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Builds the failure for a non-2xx response (`{"code","message"}` body when present).
pub fn failure_from(resp: &RawResponse) -> ApiFailure {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&resp.body) {
        Ok(b) => (b.code, b.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect(),
        ),
    };
    ApiFailure::Status {
        status: resp.status,
        code,
        message,
        opc_request_id: resp.request_id(),
        retry_after: parse_retry_after(resp.header("retry-after")),
    }
}

/// Header helper: a static name with a value that must be a valid header value.
pub fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), OciError> {
    let v = HeaderValue::from_str(value)
        .map_err(|_| OciError::Config(format!("invalid value for header {name}")))?;
    Ok((HeaderName::from_static(name), v))
}

/// The wire headers of a signed request, in order: `date`, `authorization`,
/// `accept: application/json`, then `content-length`, `content-type` and `x-content-sha256`
/// when the request has a body.
pub fn signed_headers(signed: &SignedHeaders) -> Result<Vec<(HeaderName, HeaderValue)>, OciError> {
    let mut headers = vec![
        header("date", &signed.date)?,
        header("authorization", &signed.authorization)?,
        header("accept", "application/json")?,
    ];
    if let Some((len, ctype, sha)) = &signed.body {
        headers.push(header("content-length", len)?);
        headers.push(header("content-type", ctype)?);
        headers.push(header("x-content-sha256", sha)?);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_parsing() {
        let mut headers = HeaderMap::new();
        headers.insert("opc-request-id", HeaderValue::from_static("abc/def"));
        headers.insert("retry-after", HeaderValue::from_static("4"));
        let resp = RawResponse {
            status: 429,
            headers,
            body: br#"{"code":"TooManyRequests","message":"slow down"}"#.to_vec(),
        };
        assert_eq!(
            failure_from(&resp),
            ApiFailure::Status {
                status: 429,
                code: "TooManyRequests".into(),
                message: "slow down".into(),
                opc_request_id: Some("abc/def".into()),
                retry_after: Some(Duration::from_secs(4)),
            }
        );
        let resp = RawResponse {
            status: 502,
            headers: HeaderMap::new(),
            body: b"<html>bad gateway</html>".to_vec(),
        };
        match failure_from(&resp) {
            ApiFailure::Status { code, message, .. } => {
                assert_eq!(code, "");
                assert!(message.contains("bad gateway"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signed_headers_in_wire_order() {
        let names = |signed: &SignedHeaders| {
            signed_headers(signed)
                .unwrap()
                .into_iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                .collect::<Vec<_>>()
        };
        let mut signed = SignedHeaders {
            date: "Thu, 05 Jan 2014 21:31:40 GMT".into(),
            authorization: "Signature x".into(),
            body: None,
        };
        assert_eq!(
            names(&signed),
            [
                "date: Thu, 05 Jan 2014 21:31:40 GMT",
                "authorization: Signature x",
                "accept: application/json",
            ]
        );
        signed.body = Some(("2".into(), "application/json".into(), "abc=".into()));
        assert_eq!(
            names(&signed)[3..],
            [
                "content-length: 2",
                "content-type: application/json",
                "x-content-sha256: abc=",
            ]
        );
        signed.authorization = "bad\nvalue".into();
        assert_eq!(signed_headers(&signed).unwrap_err().category(), "config");
    }

    #[test]
    fn client_trust_options() {
        assert!(build_client(None, Trust::PublicPlus, true).is_ok());
        assert_eq!(
            build_client(None, Trust::Only, false)
                .unwrap_err()
                .category(),
            "config"
        );
        assert_eq!(
            build_client(Some(b"nope"), Trust::PublicPlus, true)
                .unwrap_err()
                .category(),
            "config"
        );
    }
}
