//! SigV4's canonical forms and HMAC chain (pure): canonical URI, query and headers, the
//! canonical request, the string to sign, HMAC-SHA256 (RFC 2104, written here) and the
//! signing-key derivation. [`super::verify`] strings them together.

use hyper::HeaderMap;
use sha2::{Digest, Sha256};

use super::{SigError, ALGORITHM};

/// URI-encodes per SigV4: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper case);
/// `/` too unless `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The canonical URI of a path as sent: normalized (empty and `.` segments dropped, `..`
/// resolved) and each segment URI-encoded again, as SigV4 does for every service but S3.
pub fn canonical_uri(path: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    if segs.is_empty() {
        return "/".into();
    }
    let mut out: String = segs
        .iter()
        .map(|s| format!("/{}", uri_encode(s, false)))
        .collect();
    if path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The canonical query string: parameters decoded, re-encoded, sorted by name then value,
/// every one written `name=value`.
pub fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (uri_encode(&k, false), uri_encode(&v, false)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn collapse_spaces(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical headers block: `name:value\n` per signed header, values trimmed with
/// inner runs of spaces collapsed, repeated headers joined with `,`.
pub fn canonical_headers(headers: &HeaderMap, signed: &[String]) -> Result<String, SigError> {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.to_str().map(collapse_spaces))
            .collect::<Result<_, _>>()
            .map_err(|_| SigError::Incomplete(format!("Signed header {name} is not text")))?;
        if values.is_empty() {
            return Err(SigError::Incomplete(format!(
                "Signed header {name} is not in the request"
            )));
        }
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of a payload (the last line of the canonical request).
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// The parts of a request that the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as sent.
    pub path: &'a str,
    /// Query string as sent (no `?`).
    pub raw_query: &'a str,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// Body.
    pub body: &'a [u8],
}

/// The canonical request for `signed` header names.
pub fn canonical_request(r: &SignedRequest<'_>, signed: &[String]) -> Result<String, SigError> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method.to_ascii_uppercase(),
        canonical_uri(r.path),
        canonical_query(r.raw_query),
        canonical_headers(r.headers, signed)?,
        signed.join(";"),
        payload_hash(r.body)
    ))
}

/// The string to sign.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// HMAC-SHA256 (RFC 2104, 64-byte blocks).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
/// "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}
