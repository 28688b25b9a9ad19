//! OCI request signatures (draft-cavage-http-signatures-08, "Signature version 1",
//! rsa-sha256), verified from the documented rules, as pure functions.
//!
//! Flow: [`parse_authorization`] splits the `Authorization: Signature …` header;
//! [`check_required`] enforces OCI's minimum header set; [`signing_string`] rebuilds the
//! string the client signed; [`verify`] checks the RSA PKCS#1 v1.5 SHA-256 signature;
//! [`check_body`] and [`check_skew`] enforce the body hash and the 5-minute clock skew.

use std::time::{Duration, SystemTime};

use base64::Engine;
use hyper::HeaderMap;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

/// OCI's maximum allowed client clock skew.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// The parameters of an `Authorization: Signature …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// `version` (OCI requires "1").
    pub version: Option<String>,
    /// `keyId`.
    pub key_id: String,
    /// `algorithm`.
    pub algorithm: String,
    /// `headers`, lower-cased, in signing order.
    pub headers: Vec<String>,
    /// Decoded `signature`.
    pub signature: Vec<u8>,
}

/// Parses the header value. Errors are reasons for the log, never sent to clients.
pub fn parse_authorization(value: &str) -> Result<SignatureParams, String> {
    let rest = value
        .trim()
        .strip_prefix("Signature ")
        .ok_or("scheme is not Signature")?;
    let mut params: Vec<(String, String)> = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let eq = s.find('=').ok_or("parameter without '='")?;
        let name = s[..eq].trim().to_ascii_lowercase();
        let after = s[eq + 1..].trim_start();
        let body = after.strip_prefix('"').ok_or("unquoted parameter")?;
        let end = body.find('"').ok_or("unterminated parameter")?;
        params.push((name, body[..end].to_string()));
        s = body[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s).trim_start();
    }
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let signature = get("signature").ok_or("no signature")?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| "signature is not base64")?;
    Ok(SignatureParams {
        version: get("version"),
        key_id: get("keyid").ok_or("no keyId")?,
        algorithm: get("algorithm").ok_or("no algorithm")?,
        // draft-cavage: when `headers` is absent only `date` is signed.
        headers: get("headers")
            .unwrap_or_else(|| "date".into())
            .split_whitespace()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature,
    })
}

/// Whether a method carries a body that OCI requires to be signed.
pub fn has_body(method: &str) -> bool {
    matches!(
        method.to_ascii_uppercase().as_str(),
        "POST" | "PUT" | "PATCH"
    )
}

/// Checks version, algorithm and that the signed headers include OCI's required set:
/// `date` (or `x-date`), `(request-target)`, `host` (unless `need_host` is false, as for
/// the federation endpoint), and for bodies `content-length content-type x-content-sha256`.
pub fn check_required(p: &SignatureParams, method: &str, need_host: bool) -> Result<(), String> {
    if p.version.as_deref().is_some_and(|v| v != "1") {
        return Err(format!("unsupported signature version {:?}", p.version));
    }
    if p.algorithm != "rsa-sha256" {
        return Err(format!("unsupported algorithm {}", p.algorithm));
    }
    let has = |h: &str| p.headers.iter().any(|x| x == h);
    if !has("date") && !has("x-date") {
        return Err("date not signed".into());
    }
    let mut required = vec!["(request-target)"];
    if need_host {
        required.push("host");
    }
    if has_body(method) {
        required.extend(["content-length", "content-type", "x-content-sha256"]);
    }
    match required.into_iter().find(|h| !has(h)) {
        Some(h) => Err(format!("{h} not signed")),
        None => Ok(()),
    }
}

/// The draft-cavage signing string for the given signed header names.
/// `target` is the request's path and query exactly as sent.
pub fn signing_string(
    method: &str,
    target: &str,
    headers: &HeaderMap,
    names: &[String],
) -> Result<String, String> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        if name == "(request-target)" {
            lines.push(format!(
                "(request-target): {} {}",
                method.to_ascii_lowercase(),
                target
            ));
            continue;
        }
        let values: Vec<&str> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().map(str::trim))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("header {name} is not text"))?;
        if values.is_empty() {
            return Err(format!("signed header {name} missing"));
        }
        lines.push(format!("{name}: {}", values.join(", ")));
    }
    Ok(lines.join("\n"))
}

/// Verifies an RSA PKCS#1 v1.5 SHA-256 signature over the signing string.
pub fn verify(key: &RsaPublicKey, signing_string: &str, signature: &[u8]) -> bool {
    let digest = Sha256::digest(signing_string.as_bytes());
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
        .is_ok()
}

/// Base64 SHA-256 of a body, the value of `x-content-sha256`.
pub fn body_sha256(body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
}

/// For bodies: `x-content-sha256` must be the body's hash and `content-length` its length.
pub fn check_body(headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let hdr = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if hdr("x-content-sha256") != Some(body_sha256(body).as_str()) {
        return Err("x-content-sha256 does not match the body".into());
    }
    if hdr("content-length").and_then(|v| v.parse::<usize>().ok()) != Some(body.len()) {
        return Err("content-length does not match the body".into());
    }
    Ok(())
}

/// The request time from `x-date` (preferred, as OCI does) or `date`.
pub fn request_date(headers: &HeaderMap) -> Result<SystemTime, String> {
    let raw = headers
        .get("x-date")
        .or_else(|| headers.get("date"))
        .and_then(|v| v.to_str().ok())
        .ok_or("no date header")?;
    httpdate::parse_http_date(raw.trim()).map_err(|_| format!("unparseable date {raw:?}"))
}

/// Rejects a request date more than `max` away from `now`.
pub fn check_skew(date: SystemTime, now: SystemTime, max: Duration) -> Result<(), String> {
    let skew = now.duration_since(date).unwrap_or_else(|e| e.duration());
    if skew > max {
        return Err(format!(
            "clock skew {}s exceeds {}s",
            skew.as_secs(),
            max.as_secs()
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;

/// The documentation's sample private key, for unit tests of other modules.
#[cfg(test)]
pub(crate) fn signature_tests_key() -> rsa::RsaPrivateKey {
    crate::keys::private_key_from_pem(tests::DOC_KEY).expect("doc key")
}
