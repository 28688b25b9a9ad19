//! Identity endpoints that hand out session tokens:
//! - `POST /v1/x509` (the auth service's X.509 federation, instance principals): the
//!   request is signed with keyId `<tenancy>/fed-x509/<SHA-1 cert fingerprint>` or
//!   `<tenancy>/fed-x509-sha256/<SHA-256 fingerprint>` by the instance's leaf key; host is
//!   not among the required signed headers (the OCI SDKs do not sign it here). Answers
//!   `{"token": "<jwt>"}`.
//! - `POST /resourcePrincipalSessionTokens` (OKE workload identity, the proxymux on
//!   :12250): `Authorization: Bearer <service-account token>` from the allow-list and
//!   `{"podKey": "<public key PEM>"}`. Answers a JSON string holding base64 of
//!   `{"token": "ST$<jwt>"}`, the shape the OCI SDKs unwrap.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::info;

use super::ctx::lock;
use super::{boxed, no_route, Ctx, Handled, HandlerFuture, Req, Resp};
use crate::api_error::ApiError;
use crate::auth::{verify_signed, Principal, PrincipalKind, SignedRequest};
use crate::faults::Operation;
use crate::keys;

/// Routes the auth-service listener.
pub fn route_auth(ctx: Arc<Ctx>, req: Req) -> (Operation, HandlerFuture) {
    match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("POST", "/v1/x509") => (
            Operation::X509Federation,
            boxed(async move { federation(&ctx, &req) }),
        ),
        _ => no_route(),
    }
}

/// Routes the proxymux listener.
pub fn route_proxymux(ctx: Arc<Ctx>, req: Req) -> (Operation, HandlerFuture) {
    match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("POST", "/resourcePrincipalSessionTokens") => (
            Operation::OkeWorkloadToken,
            boxed(async move { oke(&ctx, &req) }),
        ),
        _ => no_route(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct X509Request {
    certificate: String,
    public_key: String,
    #[serde(default)]
    intermediate_certificates: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    purpose: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    fingerprint_algorithm: Option<String>,
}

fn b64_der(s: &str) -> Option<Vec<u8>> {
    let compact: String = s
        .replace("-----BEGIN CERTIFICATE-----", "")
        .replace("-----END CERTIFICATE-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

fn unauthenticated(reason: &str) -> Handled {
    info!(%reason, "identity request not authenticated");
    Handled::anon(ApiError::not_authenticated())
}

fn federation(ctx: &Ctx, req: &Req) -> Handled {
    if ctx.faults.auth_outage() {
        return unauthenticated("auth outage");
    }
    let body: X509Request = match serde_json::from_slice(&req.body) {
        Ok(b) => b,
        Err(e) => return Handled::anon(ApiError::invalid(format!("Invalid request body: {e}"))),
    };
    let Some(der) = b64_der(&body.certificate) else {
        return unauthenticated("certificate not base64");
    };
    let Some(identity) = ctx.identities.values().find(|i| i.cert_der == der) else {
        return unauthenticated("certificate not issued by this simulator");
    };
    if body
        .intermediate_certificates
        .iter()
        .any(|c| b64_der(c).as_deref() != Some(ctx.intermediate_der.as_slice()))
    {
        return unauthenticated("unknown intermediate certificate");
    }
    let tenancy = lock(&ctx.state).tenancy_id.clone();
    let now = SystemTime::now();
    let signed = SignedRequest {
        method: &req.method,
        target: &req.target,
        headers: &req.headers,
        body: &req.body,
        now,
        max_skew: ctx.max_skew,
        need_host: false,
    };
    let resolve = |key_id: &str| {
        let expected = [
            format!("{tenancy}/fed-x509/{}", keys::cert_sha1_fingerprint(&der)),
            format!(
                "{tenancy}/fed-x509-sha256/{}",
                keys::cert_sha256_fingerprint(&der)
            ),
        ];
        if !expected.iter().any(|e| e.eq_ignore_ascii_case(key_id)) {
            return Err(format!("keyId {key_id:?} does not match the certificate"));
        }
        Ok((
            identity.public_key.clone(),
            Principal {
                name: identity.instance_id.clone(),
                kind: PrincipalKind::Instance,
            },
        ))
    };
    let principal = match verify_signed(&signed, resolve) {
        Ok(p) => p,
        Err(reason) => return unauthenticated(&reason),
    };
    let session_key = match keys::public_key_from_b64_or_pem(&body.public_key) {
        Ok(k) => k,
        Err(_) => return Handled::anon(ApiError::invalid("Invalid publicKey.")),
    };
    let compartment = lock(&ctx.state)
        .get_instance(&principal.name)
        .map(|i| i.compartment_id)
        .unwrap_or_default();
    let mut claims = Map::new();
    for (k, v) in [
        ("sub", principal.name.as_str()),
        ("ptype", "instance"),
        ("ttype", "x509"),
        ("opc-certtype", "instance"),
        ("opc-instance", principal.name.as_str()),
        ("opc-compartment", compartment.as_str()),
        ("opc-tenant", tenancy.as_str()),
        ("tenant", tenancy.as_str()),
    ] {
        claims.insert(k.into(), json!(v));
    }
    match ctx
        .registry
        .issuer
        .issue(claims, &session_key, ctx.token_ttl, now)
    {
        Ok(token) => Handled {
            resp: Resp::json(200, &json!({ "token": token })),
            principal: Some(principal.name),
            injected: false,
        },
        Err(_) => Handled::anon(ApiError::server(500)),
    }
}

fn oke(ctx: &Ctx, req: &Req) -> Handled {
    if ctx.faults.auth_outage() {
        return unauthenticated("auth outage");
    }
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(principal) = bearer.and_then(|t| ctx.workload_tokens.get(t)).cloned() else {
        return unauthenticated("service-account token not accepted");
    };
    let pod_key = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|v| v.get("podKey").and_then(Value::as_str).map(String::from));
    let Some(pod_key) = pod_key else {
        return Handled::anon(ApiError::missing("podKey"));
    };
    let session_key = match keys::public_key_from_b64_or_pem(&pod_key) {
        Ok(k) => k,
        Err(_) => return Handled::anon(ApiError::invalid("Invalid podKey.")),
    };
    let (tenancy, compartment) = {
        let st = lock(&ctx.state);
        (st.tenancy_id.clone(), st.compartment_id.clone())
    };
    let mut claims = Map::new();
    for (k, v) in [
        ("sub", principal.as_str()),
        ("ptype", "workload"),
        ("res_type", "workload"),
        ("res_tenant", tenancy.as_str()),
        ("res_compartment", compartment.as_str()),
    ] {
        claims.insert(k.into(), json!(v));
    }
    match ctx
        .registry
        .issuer
        .issue(claims, &session_key, ctx.token_ttl, SystemTime::now())
    {
        Ok(token) => {
            let inner = json!({ "token": format!("ST${token}") }).to_string();
            let wrapped = base64::engine::general_purpose::STANDARD.encode(inner);
            Handled {
                resp: Resp::json(200, &wrapped),
                principal: Some(principal),
                injected: false,
            }
        }
        Err(_) => Handled::anon(ApiError::server(500)),
    }
}
