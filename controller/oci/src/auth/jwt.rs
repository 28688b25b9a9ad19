//! Reads the timing claims of a session token (JWT) to schedule its refresh.
//!
//! Data flow: a provider gets a token, [`parse_times`] reads `exp`/`iat` from the payload
//! (no signature check: OCI checks it), [`refresh_at`] says when to refresh. Pure.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::OciError;

/// Timing claims of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    /// `exp`, seconds since the epoch.
    pub exp: u64,
    /// `iat`, seconds since the epoch, when present.
    pub iat: Option<u64>,
}

/// Parses `exp` (required) and `iat` from a JWT's payload.
pub fn parse_times(token: &str) -> Result<TokenTimes, OciError> {
    let bad = |m: &str| OciError::auth(format!("session token is not a usable JWT: {m}"));
    let mut parts = token.split('.');
    let (_, payload) = match (parts.next(), parts.next()) {
        (Some(h), Some(p)) if !h.is_empty() && !p.is_empty() => (h, p),
        _ => return Err(bad("expected header.payload.signature")),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(payload))
        .map_err(|_| bad("payload is not base64url"))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| bad("payload is not JSON"))?;
    let num = |k: &str| -> Option<u64> {
        let v = claims.get(k)?;
        v.as_u64().or_else(|| v.as_f64().map(|f| f as u64))
    };
    let exp = num("exp").ok_or_else(|| bad("no exp claim"))?;
    Ok(TokenTimes {
        exp,
        iat: num("iat"),
    })
}

/// When to refresh: `exp` minus a quarter of the lifetime, clamped to [60 s, 10 min];
/// `exp - 60 s` when `iat` is unknown. Never before `iat`.
pub fn refresh_at(t: TokenTimes) -> SystemTime {
    let margin = match t.iat {
        Some(iat) if t.exp > iat => Duration::from_secs((t.exp - iat) / 4)
            .clamp(Duration::from_secs(60), Duration::from_secs(600)),
        _ => Duration::from_secs(60),
    };
    let exp = UNIX_EPOCH + Duration::from_secs(t.exp);
    let at = exp.checked_sub(margin).unwrap_or(UNIX_EPOCH);
    match t.iat {
        Some(iat) => at.max(UNIX_EPOCH + Duration::from_secs(iat)),
        None => at,
    }
}

/// `exp` as a `SystemTime`.
pub fn expires_at(t: TokenTimes) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.exp)
}

#[cfg(test)]
pub(crate) fn make_test_jwt(iat: u64, exp: u64) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat},"exp":{exp},"sub":"x"}}"#));
    format!("{h}.{p}.c2ln")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exp_and_iat() {
        let t = parse_times(&make_test_jwt(1000, 2200)).unwrap();
        assert_eq!(
            t,
            TokenTimes {
                exp: 2200,
                iat: Some(1000)
            }
        );
        // Float claims and padded base64 are accepted.
        let p = URL_SAFE.encode(br#"{"exp":1700000000.0}"#);
        let t = parse_times(&format!("aGVhZA.{p}.sig")).unwrap();
        assert_eq!(
            t,
            TokenTimes {
                exp: 1_700_000_000,
                iat: None
            }
        );
    }

    #[test]
    fn rejects_non_jwts() {
        for bad in ["", "abc", "a.!!!.c", "a.bm90IGpzb24.c"] {
            assert_eq!(parse_times(bad).unwrap_err().category(), "auth", "{bad}");
        }
        let p = URL_SAFE_NO_PAD.encode(br#"{"iat":1}"#);
        assert!(parse_times(&format!("h.{p}.s")).is_err());
    }

    #[test]
    fn refresh_schedule_table() {
        let s = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let table = [
            // 20 min token: refresh 5 min early.
            (
                TokenTimes {
                    exp: 1200,
                    iat: Some(0),
                },
                s(900),
            ),
            // 2 min token: refresh 60 s early (floor).
            (
                TokenTimes {
                    exp: 120,
                    iat: Some(0),
                },
                s(60),
            ),
            // 30 s token: clamp to iat, not before.
            (
                TokenTimes {
                    exp: 1030,
                    iat: Some(1000),
                },
                s(1000),
            ),
            // 24 h token: refresh 10 min early (cap).
            (
                TokenTimes {
                    exp: 86_400,
                    iat: Some(0),
                },
                s(86_400 - 600),
            ),
            // no iat: 60 s early.
            (
                TokenTimes {
                    exp: 5000,
                    iat: None,
                },
                s(4940),
            ),
        ];
        for (t, want) in table {
            assert_eq!(refresh_at(t), want, "{t:?}");
        }
    }
}
