//! OCI request signatures ("Request Signatures", draft-cavage-http-signatures, version 1).
//!
//! Data flow: the transport serialises the body itself, then calls [`sign_request`] with the
//! exact method, URL, body bytes and date it is about to send; it gets back every header that
//! must go on the wire (`date`, `authorization`, and for bodies `content-length`,
//! `content-type`, `x-content-sha256`). Everything here is pure except the RSA blinding RNG.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};
use std::time::SystemTime;
use url::Url;

use crate::error::OciError;

/// Which header list to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderSet {
    /// Core Services and every ordinary OCI API: `date (request-target) host` (+ body headers).
    Service,
    /// The X.509 federation endpoint (`/v1/x509`), which the SDKs sign without `host`.
    Federation,
}

/// Headers signed for requests without a body.
const GENERIC: &[&str] = &["date", "(request-target)", "host"];
/// Headers signed for requests with a body.
const WITH_BODY: &[&str] = &[
    "date",
    "(request-target)",
    "host",
    "content-length",
    "content-type",
    "x-content-sha256",
];
const FED_GENERIC: &[&str] = &["date", "(request-target)"];
const FED_WITH_BODY: &[&str] = &[
    "date",
    "(request-target)",
    "content-length",
    "content-type",
    "x-content-sha256",
];

/// True for methods whose signature covers the body (POST, PUT, PATCH), even when it is empty.
pub fn method_has_body(method: &str) -> bool {
    matches!(
        method.to_ascii_uppercase().as_str(),
        "POST" | "PUT" | "PATCH"
    )
}

/// The ordered list of headers to sign for `method`.
pub fn headers_to_sign(method: &str, set: HeaderSet) -> &'static [&'static str] {
    match (set, method_has_body(method)) {
        (HeaderSet::Service, false) => GENERIC,
        (HeaderSet::Service, true) => WITH_BODY,
        (HeaderSet::Federation, false) => FED_GENERIC,
        (HeaderSet::Federation, true) => FED_WITH_BODY,
    }
}

/// RFC 7231 IMF-fixdate, e.g. `Thu, 05 Jan 2014 21:31:40 GMT`.
pub fn format_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Base64 of the SHA-256 of `body` (the `x-content-sha256` header).
pub fn content_sha256(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

/// The request parts that enter a signature.
#[derive(Debug, Clone)]
pub struct SigningInput<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Path plus `?query` exactly as sent.
    pub path_and_query: &'a str,
    /// `host` header value exactly as sent (with `:port` when not the default).
    pub host: &'a str,
    /// `date` header value.
    pub date: &'a str,
    /// Body facts; required for POST/PUT/PATCH (use an empty body when there is none).
    pub body: Option<BodyFacts<'a>>,
}

/// Body headers as sent.
#[derive(Debug, Clone)]
pub struct BodyFacts<'a> {
    /// `content-length` value.
    pub content_length: usize,
    /// `content-type` value.
    pub content_type: &'a str,
    /// `x-content-sha256` value.
    pub content_sha256: &'a str,
}

/// Builds the signing string for `headers` (lines `name: value`, joined with `\n`).
pub fn signing_string(headers: &[&str], input: &SigningInput<'_>) -> Result<String, OciError> {
    let mut lines = Vec::with_capacity(headers.len());
    for name in headers {
        let value = match *name {
            "date" => input.date.to_string(),
            "(request-target)" => format!(
                "{} {}",
                input.method.to_ascii_lowercase(),
                input.path_and_query
            ),
            "host" => input.host.to_string(),
            "content-length" | "content-type" | "x-content-sha256" => {
                let body = input.body.as_ref().ok_or_else(|| {
                    OciError::Config(format!("signing {}: body headers missing", input.method))
                })?;
                match *name {
                    "content-length" => body.content_length.to_string(),
                    "content-type" => body.content_type.to_string(),
                    _ => body.content_sha256.to_string(),
                }
            }
            other => return Err(OciError::Config(format!("cannot sign header {other}"))),
        };
        lines.push(format!("{name}: {value}"));
    }
    Ok(lines.join("\n"))
}

/// RSA-SHA256 PKCS#1 v1.5 signature of `signing_string`, base64 encoded.
pub fn sign_string(key: &RsaPrivateKey, signing_string: &str) -> Result<String, OciError> {
    let digest = Sha256::digest(signing_string.as_bytes());
    let sig = key
        .sign_with_rng(
            &mut rand::thread_rng(),
            Pkcs1v15Sign::new::<Sha256>(),
            &digest,
        )
        .map_err(|e| OciError::auth(format!("RSA signing failed: {e}")))?;
    Ok(B64.encode(sig))
}

/// The `Authorization` header value.
pub fn authorization_header(key_id: &str, headers: &[&str], signature: &str) -> String {
    format!(
        "Signature version=\"1\",keyId=\"{key_id}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{signature}\"",
        headers.join(" ")
    )
}

/// `host` header value for `url`, as reqwest/hyper put it on the wire.
pub fn host_header(url: &Url) -> Result<String, OciError> {
    let host = url
        .host_str()
        .ok_or_else(|| OciError::Config(format!("URL {url} has no host")))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Path plus query of `url`, as sent in the request line.
pub fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Every header the transport must send for one signed request.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `date`.
    pub date: String,
    /// `authorization` (secret-bearing: never log).
    pub authorization: String,
    /// `content-length`, `content-type`, `x-content-sha256` for POST/PUT/PATCH.
    pub body: Option<(String, String, String)>,
}

impl std::fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("date", &self.date)
            .field("authorization", &"<redacted>")
            .field("body", &self.body)
            .finish()
    }
}

/// Signs one request. `body` is the exact bytes that will be sent; it is ignored for methods
/// without a body. `content_type` defaults to `application/json`.
pub fn sign_request(
    key_id: &str,
    key: &RsaPrivateKey,
    method: &str,
    url: &Url,
    body: &[u8],
    date: &str,
    set: HeaderSet,
) -> Result<SignedHeaders, OciError> {
    let host = host_header(url)?;
    let pq = path_and_query(url);
    let headers = headers_to_sign(method, set);
    let sha;
    let body_facts = if method_has_body(method) {
        sha = content_sha256(body);
        Some(BodyFacts {
            content_length: body.len(),
            content_type: "application/json",
            content_sha256: &sha,
        })
    } else {
        None
    };
    let input = SigningInput {
        method,
        path_and_query: &pq,
        host: &host,
        date,
        body: body_facts.clone(),
    };
    let s = signing_string(headers, &input)?;
    let signature = sign_string(key, &s)?;
    Ok(SignedHeaders {
        date: date.to_string(),
        authorization: authorization_header(key_id, headers, &signature),
        body: body_facts.map(|b| {
            (
                b.content_length.to_string(),
                b.content_type.to_string(),
                b.content_sha256.to_string(),
            )
        }),
    })
}

#[cfg(test)]
#[path = "signer_tests.rs"]
mod tests;
