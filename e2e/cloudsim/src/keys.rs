//! RSA key handling: PEM parsing and OCI's key fingerprints (pure).
//!
//! OCI's API-key fingerprint is the MD5 digest of the public key's DER
//! SubjectPublicKeyInfo, written as colon-separated lower-case hex (what
//! `openssl rsa -pubout -outform DER | openssl md5 -c` prints).

use md5::Digest;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::{RsaPrivateKey, RsaPublicKey};

use crate::Error;

/// Parses a public key from PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
pub fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, Error> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| Error::Crypto(format!("public key: {e}")))
}

/// Parses a public key from base64 DER SubjectPublicKeyInfo (a PEM body without the
/// armour lines, as the federation request's `publicKey`), or from full PEM.
pub fn public_key_from_b64_or_pem(s: &str) -> Result<RsaPublicKey, Error> {
    if s.contains("-----BEGIN") {
        return public_key_from_pem(s);
    }
    use base64::Engine;
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| Error::Crypto(format!("public key base64: {e}")))?;
    RsaPublicKey::from_public_key_der(&der).map_err(|e| Error::Crypto(format!("public key: {e}")))
}

/// Parses a private key from PEM (`PRIVATE KEY` or `RSA PRIVATE KEY`).
pub fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, Error> {
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| Error::Crypto(format!("private key: {e}")))
}

/// Splits concatenated PEM private keys (e.g. a key-pool file) into single PEM blocks.
pub fn split_pem_private_keys(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN") {
            cur.clear();
        }
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END") && line.contains("PRIVATE KEY") {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// DER SubjectPublicKeyInfo of a public key.
pub fn spki_der(key: &RsaPublicKey) -> Result<Vec<u8>, Error> {
    Ok(key
        .to_public_key_der()
        .map_err(|e| Error::Crypto(e.to_string()))?
        .as_bytes()
        .to_vec())
}

/// PEM (`PUBLIC KEY`) of a public key.
pub fn public_pem(key: &RsaPublicKey) -> Result<String, Error> {
    key.to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::Crypto(e.to_string()))
}

/// PEM (`PRIVATE KEY`, PKCS#8) of a private key.
pub fn private_pem(key: &RsaPrivateKey) -> Result<String, Error> {
    Ok(key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::Crypto(e.to_string()))?
        .to_string())
}

/// PKCS#8 DER of a private key.
pub fn private_der(key: &RsaPrivateKey) -> Result<Vec<u8>, Error> {
    Ok(key
        .to_pkcs8_der()
        .map_err(|e| Error::Crypto(e.to_string()))?
        .as_bytes()
        .to_vec())
}

/// Colon-separated lower-case hex.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// OCI's API-key fingerprint of a public key.
pub fn api_key_fingerprint(key: &RsaPublicKey) -> Result<String, Error> {
    Ok(colon_hex(&md5::Md5::digest(spki_der(key)?)))
}

/// SHA-1 fingerprint of a certificate's DER (the `fed-x509` key id form).
pub fn cert_sha1_fingerprint(der: &[u8]) -> String {
    colon_hex(&sha1::Sha1::digest(der))
}

/// SHA-256 fingerprint of a certificate's DER (the `fed-x509-sha256` key id form).
pub fn cert_sha256_fingerprint(der: &[u8]) -> String {
    colon_hex(&sha2::Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_pem_blocks() {
        let two = "-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----\njunk\n-----BEGIN RSA PRIVATE KEY-----\nBB\n-----END RSA PRIVATE KEY-----\n";
        let got = split_pem_private_keys(two);
        assert_eq!(got.len(), 2);
        assert!(got[1].contains("BB") && !got[1].contains("AA"));
    }

    #[test]
    fn colon_hex_formats() {
        assert_eq!(colon_hex(&[0x20, 0x3b, 0x0d]), "20:3b:0d");
        assert_eq!(colon_hex(&[]), "");
    }
}
