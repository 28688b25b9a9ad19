//! Key and certificate material: PEM private keys (PKCS#1, PKCS#8, encrypted PKCS#8), public
//! key encodings, fingerprints, and the X.509 facts instance principals need.
//!
//! Data flow: auth providers hand PEM text in and get `RsaPrivateKey`s, DER/base64 public keys
//! and fingerprints out. Pure functions; nothing here logs key material.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use md5::Md5;
use pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, DecodePem, Encode};

use crate::error::OciError;

/// Parses an RSA private key from PEM: `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY` (PKCS#8) or
/// `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2, needs `passphrase`).
pub fn parse_private_key_pem(
    pem: &str,
    passphrase: Option<&[u8]>,
) -> Result<RsaPrivateKey, OciError> {
    let pem = pem.trim();
    if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        let pass = passphrase.ok_or_else(|| {
            OciError::auth(
                "the API key is passphrase-protected but no passphrase file is configured",
            )
        })?;
        return RsaPrivateKey::from_pkcs8_encrypted_pem(pem, pass).map_err(|e| {
            OciError::auth(format!(
                "cannot decrypt the PKCS#8 API key (wrong passphrase or unsupported cipher): {e}"
            ))
        });
    }
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        if pem.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(OciError::auth(
                "legacy OpenSSL-encrypted PKCS#1 keys are not supported; convert with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-pkcs8.pem`",
            ));
        }
        return RsaPrivateKey::from_pkcs1_pem(pem)
            .map_err(|e| OciError::auth(format!("cannot parse the PKCS#1 RSA key: {e}")));
    }
    if pem.contains("BEGIN PRIVATE KEY") {
        return RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| {
            OciError::auth(format!("cannot parse the PKCS#8 key (must be RSA): {e}"))
        });
    }
    Err(OciError::auth(
        "the key file holds no PEM private key (expected RSA PRIVATE KEY, PRIVATE KEY or ENCRYPTED PRIVATE KEY)",
    ))
}

/// DER SubjectPublicKeyInfo of the key's public half.
pub fn public_key_der(key: &RsaPrivateKey) -> Result<Vec<u8>, OciError> {
    key.to_public_key()
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| OciError::auth(format!("cannot encode public key: {e}")))
}

/// Base64 of the DER SubjectPublicKeyInfo: a `PUBLIC KEY` PEM body without armor or newlines.
pub fn public_key_base64(key: &RsaPrivateKey) -> Result<String, OciError> {
    Ok(B64.encode(public_key_der(key)?))
}

/// `-----BEGIN PUBLIC KEY-----` PEM (64-column lines, trailing newline), as the SDKs send it.
pub fn public_key_pem(key: &RsaPrivateKey) -> Result<String, OciError> {
    let b64 = public_key_base64(key)?;
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    Ok(out)
}

/// OCI API-key fingerprint: MD5 of the DER public key, lowercase colon-separated hex.
pub fn api_key_fingerprint(key: &RsaPrivateKey) -> Result<String, OciError> {
    Ok(colon_hex(&Md5::digest(public_key_der(key)?)))
}

/// SHA-256 fingerprint of a DER certificate, lowercase colon-separated hex.
pub fn cert_sha256_fingerprint(der: &[u8]) -> String {
    colon_hex(&Sha256::digest(der))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The base64 body of a PEM block: armor lines and whitespace removed.
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect()
}

/// Facts read from an instance identity certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// DER bytes.
    pub der: Vec<u8>,
    /// Tenancy OCID from the subject attribute `opc-tenant:<ocid>`.
    pub tenancy_id: Option<String>,
}

/// Parses a PEM certificate and extracts the tenancy from its subject.
pub fn parse_cert_pem(pem: &str) -> Result<CertInfo, OciError> {
    let cert = x509_cert::Certificate::from_pem(pem.trim().as_bytes())
        .map_err(|e| OciError::auth(format!("cannot parse identity certificate: {e}")))?;
    let der = cert
        .to_der()
        .map_err(|e| OciError::auth(format!("cannot encode identity certificate: {e}")))?;
    let mut tenancy_id = None;
    for rdn in cert.tbs_certificate.subject.0.iter() {
        for atv in rdn.0.iter() {
            if let Some(v) = attribute_string(&atv.value) {
                if let Some(t) = v.strip_prefix("opc-tenant:") {
                    tenancy_id = Some(t.to_string());
                }
            }
        }
    }
    Ok(CertInfo { der, tenancy_id })
}

fn attribute_string(value: &x509_cert::der::Any) -> Option<String> {
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
    let der = value.to_der().ok()?;
    if let Ok(s) = Utf8StringRef::from_der(&der) {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = PrintableStringRef::from_der(&der) {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = Ia5StringRef::from_der(&der) {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = TeletexStringRef::from_der(&der) {
        return Some(s.as_str().to_string());
    }
    None
}

/// Generates a fresh RSA-2048 session key (instance principal / workload identity).
pub fn generate_session_key() -> Result<RsaPrivateKey, OciError> {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
        .map_err(|e| OciError::auth(format!("cannot generate session key: {e}")))
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
