//! Session tokens (`ST$<jwt>` key ids): RS256 JWTs issued by the simulator's federation
//! and workload-identity endpoints, binding the client's session public key in a `jwk`
//! claim (a JSON string, as OCI's tokens carry it) with an `exp`.
//!
//! Issue: claims + session key → signed JWT. Verify: JWT → signature, expiry → the
//! principal (`sub`) and the session key the request must be signed with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What a valid token says.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// `sub`: the principal (instance OCID or workload name).
    pub sub: String,
    /// `ptype`: `instance` or `resource`.
    pub ptype: String,
    /// The session public key requests must be signed with.
    pub session_key: RsaPublicKey,
    /// Expiry.
    pub exp: SystemTime,
}

/// Signs and checks the simulator's tokens.
pub struct TokenIssuer {
    key: RsaPrivateKey,
    kid: String,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The JWK (RFC 7517) of an RSA public key, as a JSON string.
pub fn jwk_string(key: &RsaPublicKey, kid: &str) -> String {
    json!({
        "kid": kid,
        "n": B64URL.encode(key.n().to_bytes_be()),
        "e": B64URL.encode(key.e().to_bytes_be()),
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
    })
    .to_string()
}

fn key_from_jwk(v: &Value) -> Result<RsaPublicKey, String> {
    let field = |n: &str| -> Result<BigUint, String> {
        let s = v
            .get(n)
            .and_then(Value::as_str)
            .ok_or(format!("jwk without {n}"))?;
        Ok(BigUint::from_bytes_be(
            &B64URL
                .decode(s)
                .map_err(|_| format!("jwk {n} not base64url"))?,
        ))
    };
    RsaPublicKey::new(field("n")?, field("e")?).map_err(|e| format!("jwk key: {e}"))
}

impl TokenIssuer {
    /// An issuer signing with `key`.
    pub fn new(key: RsaPrivateKey) -> Self {
        TokenIssuer {
            key,
            kid: "ocisim-token-signer".into(),
        }
    }

    /// Issues a token valid from `now` for `ttl`, with `claims` plus the standard ones.
    pub fn issue(
        &self,
        mut claims: Map<String, Value>,
        session_key: &RsaPublicKey,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, String> {
        let iat = secs(now);
        let exp = iat + ttl.as_secs().max(1);
        claims.insert("iss".into(), json!("authService.oracle.com"));
        claims.insert("aud".into(), json!("oci"));
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(exp));
        claims.insert("sess_exp".into(), json!(exp));
        claims.insert(
            "jti".into(),
            json!(format!("{:032x}", rand::random::<u128>())),
        );
        claims.insert("jwk".into(), json!(jwk_string(session_key, "sessionKey")));
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(Value::Object(claims).to_string())
        );
        let digest = Sha256::digest(signing_input.as_bytes());
        let sig = self
            .key
            .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
            .map_err(|e| e.to_string())?;
        Ok(format!("{signing_input}.{}", B64URL.encode(sig)))
    }

    /// Checks signature and expiry; returns the principal and the bound session key.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<VerifiedToken, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("token is not a JWT".into());
        };
        let header: Value =
            serde_json::from_slice(&B64URL.decode(h).map_err(|_| "header not base64url")?)
                .map_err(|_| "header not JSON")?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("token alg is not RS256".into());
        }
        let sig = B64URL.decode(s).map_err(|_| "signature not base64url")?;
        let digest = Sha256::digest(format!("{h}.{c}").as_bytes());
        self.key
            .to_public_key()
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
            .map_err(|_| "token signature invalid")?;
        let claims: Value =
            serde_json::from_slice(&B64URL.decode(c).map_err(|_| "claims not base64url")?)
                .map_err(|_| "claims not JSON")?;
        let exp = claims.get("exp").and_then(Value::as_u64).ok_or("no exp")?;
        if exp <= secs(now) {
            return Err("token expired".into());
        }
        let jwk_raw = claims.get("jwk").and_then(Value::as_str).ok_or("no jwk")?;
        let jwk: Value = serde_json::from_str(jwk_raw).map_err(|_| "jwk not JSON")?;
        Ok(VerifiedToken {
            sub: claims
                .get("sub")
                .and_then(Value::as_str)
                .ok_or("no sub")?
                .to_string(),
            ptype: claims
                .get("ptype")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            session_key: key_from_jwk(&jwk)?,
            exp: UNIX_EPOCH + Duration::from_secs(exp),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::signature_tests_key as test_key;

    #[test]
    fn issue_verify_expire() {
        let issuer = TokenIssuer::new(test_key());
        let session = test_key().to_public_key();
        let now = SystemTime::now();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("ocid1.instance.oc1..a"));
        claims.insert("ptype".into(), json!("instance"));
        let t = issuer
            .issue(claims, &session, Duration::from_secs(60), now)
            .unwrap();
        let v = issuer.verify(&t, now).unwrap();
        assert_eq!(v.sub, "ocid1.instance.oc1..a");
        assert_eq!(v.session_key, session);
        // Expired one second after exp.
        assert!(issuer
            .verify(&t, now + Duration::from_secs(61))
            .unwrap_err()
            .contains("expired"));
        // A flipped claim byte breaks the signature.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut c = B64URL.decode(&parts[1]).unwrap();
        c[3] ^= 1;
        parts[1] = B64URL.encode(c);
        assert!(issuer.verify(&parts.join("."), now).is_err());
    }
}
