//! Web identity tokens: OIDC JWTs such as Kubernetes service-account tokens, which STS
//! (IRSA) and EKS Auth (Pod Identity) accept.
//!
//! Flow: [`parse`] splits a compact JWT and decodes its header and the claims both services
//! read (`iss`, `sub`, `aud` as a string or a list, `exp`, `nbf`); the caller picks the
//! issuer's keys by `iss` and asks [`Unverified::verify`] to check the signature (ES256, what
//! a kube-apiserver with an EC key signs, or RS256) before it trusts any claim. Keys come from
//! PEM `PUBLIC KEY`s ([`TokenKey::from_pem`]). [`Es256Signer`] signs tokens for tests and
//! tools that stand in for an issuer.

use base64::Engine;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1, BIT STRING),
/// followed by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a token is refused before its claims are judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or header/claims not JSON, or a required claim missing.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` other than ES256 or RS256.
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    /// No key of the issuer verifies the signature.
    #[error("signature verification failed")]
    Signature,
}

/// A key that verifies an issuer's tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKey {
    /// P-256 public key (uncompressed point), for ES256.
    Es256(Vec<u8>),
    /// RSA public key, for RS256.
    Rs256(RsaPublicKey),
}

impl TokenKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo): P-256 or RSA.
    pub fn from_pem(pem: &str) -> Result<TokenKey, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PUBLIC KEY-----")
            .collect();
        if body.is_empty() {
            return Err("no PEM PUBLIC KEY block".into());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("PEM body is not base64: {e}"))?;
        if let Some(point) = der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            if point.len() == 65 && point[0] == 4 {
                return Ok(TokenKey::Es256(point.to_vec()));
            }
            return Err("P-256 key is not an uncompressed point".into());
        }
        RsaPublicKey::from_public_key_der(&der)
            .map(TokenKey::Rs256)
            .map_err(|e| format!("neither a P-256 nor an RSA public key: {e}"))
    }

    fn verifies(&self, alg: &str, input: &[u8], sig: &[u8]) -> bool {
        match (self, alg) {
            (TokenKey::Es256(point), "ES256") => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(input, sig)
                    .is_ok()
            }
            (TokenKey::Rs256(key), "RS256") => key
                .verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(input), sig)
                .is_ok(),
            _ => false,
        }
    }
}

/// The claims STS and EKS Auth read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject (`system:serviceaccount:<ns>:<name>` for Kubernetes).
    pub sub: String,
    /// Audiences (`aud` may be a string or a list).
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch.
    pub nbf: Option<u64>,
}

/// A parsed token whose signature is not checked yet.
#[derive(Debug, Clone)]
pub struct Unverified {
    alg: String,
    signing_input: String,
    signature: Vec<u8>,
    /// The claims (not to be trusted before [`Unverified::verify`]).
    pub claims: Claims,
}

fn decode_json(part: &str, what: &str) -> Result<Value, TokenError> {
    let bytes = B64URL
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed(format!("{what} is not JSON")))
}

/// Splits and decodes a compact JWT.
pub fn parse(token: &str) -> Result<Unverified, TokenError> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "not three dot-separated parts".into(),
        ));
    };
    let header = decode_json(h, "header")?;
    let claims = decode_json(c, "claims")?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if alg != "ES256" && alg != "RS256" {
        return Err(TokenError::Algorithm(alg));
    }
    let text = |n: &str| {
        claims
            .get(n)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| TokenError::Malformed(format!("no {n} claim")))
    };
    let aud = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => return Err(TokenError::Malformed("no aud claim".into())),
    };
    Ok(Unverified {
        alg,
        signing_input: format!("{h}.{c}"),
        signature: B64URL
            .decode(s)
            .map_err(|_| TokenError::Malformed("signature is not base64url".into()))?,
        claims: Claims {
            iss: text("iss")?,
            sub: text("sub")?,
            aud,
            exp: claims
                .get("exp")
                .and_then(Value::as_u64)
                .ok_or_else(|| TokenError::Malformed("no exp claim".into()))?,
            nbf: claims.get("nbf").and_then(Value::as_u64),
        },
    })
}

impl Unverified {
    /// Checks the signature against the issuer's keys.
    pub fn verify(&self, keys: &[TokenKey]) -> Result<&Claims, TokenError> {
        if keys
            .iter()
            .any(|k| k.verifies(&self.alg, self.signing_input.as_bytes(), &self.signature))
        {
            Ok(&self.claims)
        } else {
            Err(TokenError::Signature)
        }
    }
}

/// Signs ES256 tokens with a fresh P-256 key: an issuer for tests and tools.
pub struct Es256Signer {
    pair: ring::signature::EcdsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl Es256Signer {
    /// A signer with a new key.
    pub fn generate() -> Result<Es256Signer, String> {
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| e.to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|e| e.to_string())?;
        Ok(Es256Signer { pair, rng })
    }

    /// The public key as a PEM `PUBLIC KEY`.
    pub fn public_key_pem(&self) -> String {
        use ring::signature::KeyPair;
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    /// A compact JWT of `claims` (header `{"alg":"ES256","typ":"JWT"}`).
    pub fn sign(&self, claims: &Value) -> Result<String, String> {
        let input = format!(
            "{}.{}",
            B64URL.encode(r#"{"alg":"ES256","typ":"JWT"}"#),
            B64URL.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(format!("{input}.{}", B64URL.encode(sig.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Value {
        json!({"iss": "https://issuer.example", "sub": "system:serviceaccount:a:b",
               "aud": ["sts.amazonaws.com"], "exp": 2_000_000_000u64, "iat": 1_000_000_000u64})
    }

    #[test]
    fn es256_round_trip_and_tampering() {
        let signer = Es256Signer::generate().unwrap();
        let key = TokenKey::from_pem(&signer.public_key_pem()).unwrap();
        assert!(matches!(key, TokenKey::Es256(_)));
        let token = signer.sign(&claims()).unwrap();
        let parsed = parse(&token).unwrap();
        let c = parsed.verify(std::slice::from_ref(&key)).unwrap();
        assert_eq!(c.iss, "https://issuer.example");
        assert_eq!(c.aud, ["sts.amazonaws.com"]);
        assert_eq!((c.exp, c.nbf), (2_000_000_000, None));

        // Another issuer's key does not verify it.
        let other = TokenKey::from_pem(&Es256Signer::generate().unwrap().public_key_pem()).unwrap();
        assert_eq!(parsed.verify(&[other]).unwrap_err(), TokenError::Signature);
        // Changed claims under the old signature do not verify.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64URL.encode(json!({"iss": "https://issuer.example", "sub": "system:serviceaccount:kube-system:admin", "aud": "sts.amazonaws.com", "exp": 2_000_000_000u64}).to_string());
        parts[1] = &forged;
        let forged = parse(&parts.join(".")).unwrap();
        assert_eq!(forged.claims.aud, ["sts.amazonaws.com"]);
        assert_eq!(forged.verify(&[key]).unwrap_err(), TokenError::Signature);
    }

    #[test]
    fn rs256_tokens_verify_with_the_rsa_key() {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let private = crate::signature::signature_tests_key();
        let pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let key = TokenKey::from_pem(&pem).unwrap();
        assert!(matches!(key, TokenKey::Rs256(_)));
        let input = format!(
            "{}.{}",
            B64URL.encode(r#"{"alg":"RS256","kid":"k1"}"#),
            B64URL.encode(claims().to_string())
        );
        let sig = private
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(input.as_bytes()),
            )
            .unwrap();
        let token = format!("{input}.{}", B64URL.encode(sig));
        let parsed = parse(&token).unwrap();
        assert_eq!(
            parsed.verify(std::slice::from_ref(&key)).unwrap().sub,
            "system:serviceaccount:a:b"
        );
        // An ES256 key never verifies an RS256 token.
        let es = TokenKey::from_pem(&Es256Signer::generate().unwrap().public_key_pem()).unwrap();
        assert_eq!(parsed.verify(&[es]).unwrap_err(), TokenError::Signature);
    }

    #[test]
    fn malformed_tokens_and_keys() {
        assert!(matches!(parse("a.b"), Err(TokenError::Malformed(_))));
        assert!(matches!(parse("!.!.!"), Err(TokenError::Malformed(_))));
        let none = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(claims().to_string())
        );
        assert_eq!(
            parse(&none).unwrap_err(),
            TokenError::Algorithm("none".into())
        );
        let no_exp = format!(
            "{}.{}.AA",
            B64URL.encode(r#"{"alg":"ES256"}"#),
            B64URL.encode(json!({"iss": "i", "sub": "s", "aud": "a"}).to_string())
        );
        assert_eq!(
            parse(&no_exp).unwrap_err(),
            TokenError::Malformed("no exp claim".into())
        );
        assert!(TokenKey::from_pem("not a key").is_err());
        assert!(
            TokenKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}
