//! OKE workload identity: the pod's service-account token exchanged at the cluster's proxymux
//! for a resource-principal session token.
//!
//! Data flow of one refresh: read the service-account token file (projected tokens rotate, so
//! it is re-read every time) → fresh RSA-2048 session key → `POST {endpoint}` with
//! `Authorization: Bearer <sa token>` and `{"podKey": "<session public key PEM>"}` over TLS that
//! trusts only the service-account CA → the body is a JSON string holding base64 of
//! `{"token": "ST$<jwt>"}` → credentials `ST$<jwt>` + session key, refreshed before `exp`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::future::BoxFuture;
use reqwest::{Client, Method};
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

use super::identity_call::{describe, send_with_retries};
use super::instance_principal::{new_session_key, KeyGen};
use super::session::{Session, SessionProvider, SessionSource};
use super::PrincipalKind;
use crate::error::{ApiFailure, OciError};
use crate::http::header;
use crate::keys::public_key_pem;

/// Extracts the token from a proxymux answer (pure). Accepts the documented shape (a JSON
/// string of base64 of `{"token": ...}`), the same without quotes, and plain `{"token": ...}`.
/// The `ST$` prefix, when present, is removed.
pub fn parse_proxymux_response(body: &[u8]) -> Result<String, OciError> {
    let bad = |m: String| OciError::InvalidResponse {
        operation: "RequestResourcePrincipalSessionToken",
        message: m,
        opc_request_id: None,
    };
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let json_bytes: Vec<u8> = if text.starts_with('{') {
        text.as_bytes().to_vec()
    } else {
        let inner: String = if text.starts_with('"') {
            serde_json::from_str(text).map_err(|e| bad(format!("not a JSON string: {e}")))?
        } else {
            text.to_string()
        };
        B64.decode(inner.trim())
            .map_err(|e| bad(format!("token payload is not base64: {e}")))?
    };
    #[derive(serde::Deserialize)]
    struct TokenBody {
        token: String,
    }
    let parsed: TokenBody =
        serde_json::from_slice(&json_bytes).map_err(|e| bad(format!("no token field: {e}")))?;
    let token = parsed
        .token
        .strip_prefix("ST$")
        .unwrap_or(&parsed.token)
        .to_string();
    if token.is_empty() {
        return Err(bad("empty token".into()));
    }
    Ok(token)
}

/// The request body (pure).
pub fn proxymux_body(session_public_pem: &str) -> serde_json::Value {
    serde_json::json!({ "podKey": session_public_pem })
}

/// Token exchange at the proxymux.
pub struct WorkloadIdentitySource {
    http: Client,
    endpoint: Url,
    token_path: PathBuf,
    timeout: Duration,
    keygen: KeyGen,
}

impl WorkloadIdentitySource {
    /// `http` must trust only the service-account CA.
    pub fn new(
        http: Client,
        endpoint: Url,
        token_path: PathBuf,
        timeout: Duration,
        keygen: KeyGen,
    ) -> Self {
        WorkloadIdentitySource {
            http,
            endpoint,
            token_path,
            timeout,
            keygen,
        }
    }

    async fn exchange(&self) -> Result<Session, OciError> {
        let sa_token = tokio::fs::read_to_string(&self.token_path)
            .await
            .map_err(|e| {
                OciError::auth(format!(
                    "cannot read service-account token {}: {e}",
                    self.token_path.display()
                ))
            })?;
        let sa_token = sa_token.trim().to_string();
        let session_key = new_session_key(&self.keygen).await?;
        let body = serde_json::to_vec(&proxymux_body(&public_key_pem(&session_key)?))
            .map_err(|e| OciError::auth(e.to_string()))?;
        let headers = || {
            Ok(vec![
                header("authorization", &format!("Bearer {sa_token}"))?,
                header("content-type", "application/json")?,
                header("opc-request-id", &uuid::Uuid::new_v4().simple().to_string())?,
            ])
        };
        let fail = |failure: ApiFailure| {
            let hint = match failure.status() {
                Some(403) => "; workload identity needs an enhanced OKE cluster",
                Some(401) => "; the service-account token was rejected",
                _ => "",
            };
            OciError::Auth {
                message: format!(
                    "workload identity token exchange at {} failed: {}{hint}",
                    self.endpoint,
                    describe(&failure)
                ),
                opc_request_id: failure.opc_request_id().map(str::to_string),
            }
        };
        let resp = send_with_retries(
            &self.http,
            Method::POST,
            &self.endpoint,
            Some(&body),
            self.timeout,
            headers,
            fail,
        )
        .await?;
        let token = parse_proxymux_response(&resp.body)?;
        Session::from_token(&token, session_key)
    }
}

impl SessionSource for WorkloadIdentitySource {
    fn fetch(&self) -> BoxFuture<'_, Result<Session, OciError>> {
        Box::pin(self.exchange())
    }
    fn principal(&self) -> PrincipalKind {
        PrincipalKind::Workload
    }
}

/// Workload-identity [`KeyProvider`](super::KeyProvider).
pub type WorkloadIdentityProvider = SessionProvider<WorkloadIdentitySource>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxymux_response_shapes() {
        let inner = B64.encode(br#"{"token":"ST$eyJ.abc.def"}"#);
        let quoted = format!("\"{inner}\"");
        assert_eq!(
            parse_proxymux_response(quoted.as_bytes()).unwrap(),
            "eyJ.abc.def"
        );
        assert_eq!(
            parse_proxymux_response(inner.as_bytes()).unwrap(),
            "eyJ.abc.def"
        );
        assert_eq!(
            parse_proxymux_response(br#"{"token":"eyJ.x.y"}"#).unwrap(),
            "eyJ.x.y"
        );
        for bad in [&b"\"!!!\""[..], b"{}", b"", br#"{"token":"ST$"}"#] {
            assert_eq!(
                parse_proxymux_response(bad).unwrap_err().category(),
                "invalid_response"
            );
        }
    }

    #[test]
    fn request_body_carries_the_pem() {
        let b = proxymux_body("-----BEGIN PUBLIC KEY-----\nAAA\n-----END PUBLIC KEY-----\n");
        assert!(b["podKey"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
    }
}
