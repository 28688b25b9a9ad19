//! AWS Signature Version 4 verification, written from AWS's specification ("Create a signed
//! AWS API request" in the IAM User Guide), as pure functions.
//!
//! Flow: [`verify`] parses the `Authorization` header ([`parse_authorization`]), checks
//! the credential scope (date, region, service `ec2`, `aws4_request`) and the clock skew of
//! `X-Amz-Date`, resolves the access key (and its session token) through the caller's
//! lookup, rebuilds the canonical request ([`canonical_request`]: method, canonical URI,
//! canonical query, canonical headers, signed headers, payload hash), the string to sign
//! ([`string_to_sign`]), derives the signing key ([`signing_key`]: HMAC-SHA256 over date,
//! region, service, `aws4_request`) and compares signatures in constant time.
//!
//! Not supported: query-string (presigned) authentication, `UNSIGNED-PAYLOAD`, SigV4a.

use std::time::{Duration, SystemTime};

use super::error::Ec2Error;

/// The only algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Allowed clock skew. AWS's SigV4 documentation says a signed request must reach AWS
/// within five minutes of its timestamp (the common errors page says 15 for
/// `RequestExpired`); GUESS: EC2 enforces five.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// Why a request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The header or the signed headers are malformed or incomplete.
    #[error("incomplete signature: {0}")]
    Incomplete(String),
    /// The access key id is unknown.
    #[error("unknown access key id {0}")]
    UnknownKey(String),
    /// The session token is wrong, missing, or not expected.
    #[error("invalid session token")]
    BadToken,
    /// The signature (or the scope, with a reason) does not match.
    #[error("signature does not match{}", .0.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Mismatch(Option<String>),
    /// `X-Amz-Date` is too far from the simulator's clock.
    #[error("request expired: {0}")]
    Expired(String),
}

impl SigError {
    /// The EC2 error answered to the client.
    ///
    /// GUESS (EC2 does not document which code each case gets): an unknown access key is
    /// `AuthFailure` (401, what EC2 answers in practice), session-token problems are
    /// `InvalidClientTokenId` (403), scope problems `SignatureDoesNotMatch` (403).
    pub fn to_ec2(&self) -> Ec2Error {
        match self {
            SigError::Missing => Ec2Error::missing_authentication(),
            SigError::Incomplete(d) => Ec2Error::incomplete_signature(d),
            SigError::UnknownKey(_) => Ec2Error::auth_failure(),
            SigError::BadToken => Ec2Error::invalid_token(),
            SigError::Mismatch(d) => Ec2Error::signature_mismatch(d.as_deref()),
            SigError::Expired(_) => Ec2Error::request_expired("Request has expired."),
        }
    }
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    /// Access key id.
    pub access_key_id: String,
    /// Scope date, `YYYYMMDD`.
    pub date: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Scope terminator (must be `aws4_request`).
    pub terminator: String,
    /// Signed header names as given.
    pub signed_headers: Vec<String>,
    /// Hex signature as given.
    pub signature: String,
}

/// Parses the header value.
pub fn parse_authorization(value: &str) -> Result<AuthHeader, SigError> {
    let value = value.trim();
    let (alg, rest) = value.split_once(' ').unwrap_or((value, ""));
    if alg != ALGORITHM {
        return Err(SigError::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{alg}'"
        )));
    }
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "Credential" => cred = Some(v.trim().to_string()),
            "SignedHeaders" => signed = Some(v.trim().to_string()),
            "Signature" => sig = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", &cred),
        ("Signature", &sig),
        ("SignedHeaders", &signed),
    ] {
        if v.as_deref().is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        return Err(SigError::Incomplete(format!(
            "{missing}Authorization={value}"
        )));
    };
    if !missing.is_empty() {
        return Err(SigError::Incomplete(format!(
            "{missing}Authorization={value}"
        )));
    }
    let parts: Vec<&str> = cred.split('/').collect();
    let [ak, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigError::Incomplete(format!(
            "Credential must have five parts (key/date/region/service/aws4_request): {cred}"
        )));
    };
    Ok(AuthHeader {
        access_key_id: ak.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        signed_headers: signed.split(';').map(|h| h.trim().to_string()).collect(),
        signature: sig,
    })
}

/// Parses `YYYYMMDD'T'HHMMSS'Z'`.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let t = date.and_hms_opt(num(9..11)?, num(11..13)?, num(13..15)?)?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// What the simulator expects of a signature.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// Region of the scope.
    pub region: &'a str,
    /// Service of the scope (`ec2`).
    pub service: &'a str,
    /// The simulator's clock.
    pub now: SystemTime,
    /// Allowed skew; `None` disables the check (only for documented test vectors).
    pub max_skew: Option<Duration>,
}

/// A principal's secret and session token, as the lookup returns them.
#[derive(Debug, Clone, Copy)]
pub struct Secret<'a> {
    /// Secret access key.
    pub secret_access_key: &'a str,
    /// Session token, for temporary credentials.
    pub session_token: Option<&'a str>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies a request; returns the access key id that signed it.
pub fn verify<'s>(
    r: &SignedRequest<'_>,
    want: &Expected<'_>,
    lookup: impl FnOnce(&str) -> Option<Secret<'s>>,
) -> Result<String, SigError> {
    let header = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let auth = parse_authorization(header("authorization").ok_or(SigError::Missing)?)?;
    let amz_date = header("x-amz-date").ok_or_else(|| {
        SigError::Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        )
    })?;
    let when = parse_amz_date(amz_date)
        .ok_or_else(|| SigError::Incomplete(format!("Invalid X-Amz-Date '{amz_date}'")))?;
    if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
        return Err(SigError::Mismatch(Some(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            &amz_date[..8]
        ))));
    }
    // GUESS: scope errors are SignatureDoesNotMatch with these messages.
    if auth.region != want.region {
        return Err(SigError::Mismatch(Some(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            auth.region
        ))));
    }
    if auth.service != want.service {
        return Err(SigError::Mismatch(Some(format!(
            "Credential should be scoped to correct service: '{}'.",
            want.service
        ))));
    }
    if auth.terminator != "aws4_request" {
        return Err(SigError::Mismatch(Some(
            "Credential should be scoped with a valid terminator: 'aws4_request'".into(),
        )));
    }
    // GUESS: AWS refuses an unsigned Host (or X-Amz-Date) as an incomplete signature.
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(SigError::Incomplete(format!(
                "'{required}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
    }
    if let Some(max) = want.max_skew {
        let skew = want
            .now
            .duration_since(when)
            .unwrap_or_else(|e| e.duration());
        if skew > max {
            return Err(SigError::Expired(format!(
                "X-Amz-Date {amz_date} is {}s away from the server's clock (max {}s)",
                skew.as_secs(),
                max.as_secs()
            )));
        }
    }
    let secret = lookup(&auth.access_key_id)
        .ok_or_else(|| SigError::UnknownKey(auth.access_key_id.clone()))?;
    if header("x-amz-security-token") != secret.session_token {
        return Err(SigError::BadToken);
    }
    if let Some(h) = header("x-amz-content-sha256") {
        if h != payload_hash(r.body) {
            return Err(SigError::Mismatch(Some(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .into(),
            )));
        }
    }
    let creq = canonical_request(r, &auth.signed_headers)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let sts = string_to_sign(amz_date, &scope, &creq);
    let key = signing_key(
        secret.secret_access_key,
        &auth.date,
        &auth.region,
        &auth.service,
    );
    let expected = hex(&hmac_sha256(&key, sts.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SigError::Mismatch(None));
    }
    Ok(auth.access_key_id)
}

#[path = "sigv4_canonical.rs"]
mod canonical;
pub use canonical::*;

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
