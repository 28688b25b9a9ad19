//! The EKS Pod Identity agent (plain HTTP, `GET /v1/credentials`) together with the EKS Auth
//! call behind it (`AssumeRoleForPodIdentity`), as AWS's agent serves SDKs' container
//! credential provider.
//!
//! Flow per request: the agent's own checks (the `Host` the pod called must be the agent's
//! address: 169.254.170.23, `fd00:ec2::23`, or the address it is bound to here; the
//! `Authorization` header must hold a parseable JWT whose `exp`/`nbf` hold) → EKS Auth's
//! (issuer = the cluster's, signature, audience `pods.eks.amazonaws.com`, the `sub`'s
//! service account has an association, the role trusts `pods.eks.amazonaws.com`) → a
//! session ([`super::sessions`]) → `{"AccessKeyId","SecretAccessKey","Token","AccountId",
//! "Expiration"}`. Refusals are plain text with the status, as the agent's `http.Error`
//! writes them: 400 for its own validation, 403 for a wrong address, and EKS Auth's status
//! for EKS Auth's errors (`[request id]: (Code): message, fault: client`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;
use tracing::info;

use super::ctx::{AwsCallRecord, AwsCtx, Injected};
use super::faults::Action;
use super::federation::{parse_service_account_subject, IamRole, POD_IDENTITY_AUDIENCE};
use super::iam::Iam;
use super::oidc;
use super::server::{now_rfc3339, request_id};
use super::sessions::SessionSource;
use crate::http::{read_request, Outcome, Resp};
use crate::server::ctx::lock;

/// The agent's path.
pub const PATH: &str = "/v1/credentials";
/// The agent's link-local addresses.
pub const AGENT_HOSTS: [&str; 2] = ["169.254.170.23", "fd00:ec2::23"];
/// GUESS: the lifetime of Pod Identity credentials (AWS documents none; the agent refreshes
/// well before they end).
pub const CREDENTIAL_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// A refusal: the status and the agent's plain-text message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct AgentError {
    /// HTTP status.
    pub status: u16,
    /// Message (the agent's, or EKS Auth's error code and message).
    pub message: String,
}

fn agent(status: u16, message: impl Into<String>) -> AgentError {
    AgentError {
        status,
        message: message.into(),
    }
}

/// An EKS Auth error as the agent relays it. EKS Auth's API reference gives 400 for
/// `InvalidTokenException`, `ExpiredTokenException` and `AccessDeniedException`, 404 for
/// `ResourceNotFoundException`.
fn eks_auth(status: u16, code: &str, message: &str, rid: &str) -> AgentError {
    agent(
        status,
        format!("[{rid}]: ({code}): {message}, fault: client"),
    )
}

/// What the request carried.
#[derive(Debug, Clone, Copy)]
pub struct PodRequest<'a> {
    /// `Host` header.
    pub host: Option<&'a str>,
    /// `Authorization` header (the projected service-account token itself).
    pub token: Option<&'a str>,
}

/// The host of a `Host` header: `[v6]:port` → `v6`, `v4:port` → `v4`, a bare address as is.
fn host_only(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.split_once(':') {
        Some((h, port)) if !port.contains(':') => h,
        _ => host,
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Decides one request (pure): the role whose credentials the pod gets.
pub fn authorize(
    iam: &Iam,
    bound: IpAddr,
    req: &PodRequest<'_>,
    rid: &str,
    now: SystemTime,
) -> Result<IamRole, AgentError> {
    let host = host_only(req.host.unwrap_or_default());
    let bound = bound.to_string();
    if !AGENT_HOSTS.contains(&host) && host != bound {
        return Err(agent(
            403,
            format!(
                "Access Denied. Called agent through invalid address, please use either [{} {}] address not {host}",
                AGENT_HOSTS[0], AGENT_HOSTS[1]
            ),
        ));
    }
    let token = req.token.unwrap_or_default();
    if token.is_empty() {
        return Err(agent(400, "Service account token cannot be empty"));
    }
    let parsed = oidc::parse(token)
        .map_err(|e| agent(400, format!("Service account token cannot be parsed: {e}")))?;
    let now_s = secs(now);
    if parsed.claims.exp <= now_s {
        return Err(agent(
            400,
            "Service account token failed basic claim validations: token has invalid claims: token is expired",
        ));
    }
    if parsed.claims.nbf.is_some_and(|nbf| nbf > now_s) {
        return Err(agent(
            400,
            "Service account token failed basic claim validations: token has invalid claims: token is not valid yet",
        ));
    }
    // EKS Auth from here on.
    let Some(cluster) = iam.cluster() else {
        return Err(eks_auth(
            404,
            "ResourceNotFoundException",
            "Cluster not found",
            rid,
        ));
    };
    let invalid = |m: &str| eks_auth(400, "InvalidTokenException", m, rid);
    if parsed.claims.iss != cluster.spec.issuer {
        return Err(invalid("Token issuer does not match the cluster"));
    }
    let claims = parsed
        .verify(&cluster.keys)
        .map_err(|_| invalid("Token signature could not be verified"))?;
    if !claims.aud.iter().any(|a| a == POD_IDENTITY_AUDIENCE) {
        return Err(invalid("Token audience is not pods.eks.amazonaws.com"));
    }
    let (ns, sa) = parse_service_account_subject(&claims.sub)
        .ok_or_else(|| invalid("Token subject is not a service account"))?;
    let assoc = cluster
        .spec
        .pod_identity_associations
        .iter()
        .find(|a| a.namespace == ns && a.service_account == sa)
        .ok_or_else(|| {
            eks_auth(
                404,
                "ResourceNotFoundException",
                &format!(
                    "No Pod Identity Association found for namespace {ns} and service account {sa}"
                ),
                rid,
            )
        })?;
    let role = iam
        .role(&assoc.role)
        .filter(|r| r.trusts_pod_identity)
        .ok_or_else(|| {
            eks_auth(
                400,
                "AccessDeniedException",
                "The role's trust policy does not allow pods.eks.amazonaws.com to assume it",
                rid,
            )
        })?;
    Ok(role.clone())
}

/// Serves one agent request; `bound` is the listener's address.
pub async fn handle(ctx: Arc<AwsCtx>, req: Request<Incoming>, bound: IpAddr) -> Outcome {
    let rid = request_id();
    let Ok(req) = read_request(req).await else {
        return Outcome::Reply(Resp::text(400, "Bad Request\n"));
    };
    let mut record = AwsCallRecord {
        action: Action::PodIdentityCredentials,
        access_key_id: None,
        principal: None,
        status: 0,
        code: None,
        request_id: rid.clone(),
        timestamp: now_rfc3339(),
        dry_run: false,
        injected: false,
        params: BTreeMap::from([
            ("method".to_string(), req.method.clone()),
            ("path".to_string(), req.path.clone()),
        ]),
    };
    let resp = match ctx.injected(Action::PodIdentityCredentials).await {
        Injected::Drop => return Outcome::Drop,
        Injected::Fail(f) => {
            record.injected = true;
            Resp::text(
                f.to_ec2().map_or(500, |e| e.status),
                "Injected by the simulator.\n",
            )
        }
        Injected::Answer if req.method != "GET" => Resp::text(405, "Method Not Allowed\n"),
        Injected::Answer if req.path != PATH => Resp::text(404, "404 page not found\n"),
        Injected::Answer => answer(&ctx, &req, bound, &rid, &mut record),
    };
    record.status = resp.status;
    ctx.calls.push(record);
    Outcome::Reply(resp)
}

fn answer(
    ctx: &AwsCtx,
    req: &crate::http::Req,
    bound: IpAddr,
    rid: &str,
    record: &mut AwsCallRecord,
) -> Resp {
    let now = SystemTime::now();
    let pod = PodRequest {
        host: req.header("host"),
        token: req.header("authorization"),
    };
    let role = match authorize(&ctx.iam, bound, &pod, rid, now) {
        Ok(r) => r,
        Err(e) => {
            info!(status = e.status, reason = %e.message, "pod identity: refused");
            return Resp::text(e.status, format!("{}\n", e.message))
                .with("x-content-type-options", "nosniff");
        }
    };
    let c = ctx
        .sessions
        .issue(&role, SessionSource::PodIdentity, CREDENTIAL_LIFETIME, now);
    record.principal = Some(role.name.clone());
    record.access_key_id = Some(c.access_key_id.clone());
    info!(role = %role.name, "pod identity: credentials issued");
    let account = lock(&ctx.state).account_id.clone();
    let expiration = chrono::DateTime::<chrono::Utc>::from(c.expiration)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    Resp::json(
        200,
        &json!({
            "AccessKeyId": c.access_key_id,
            "SecretAccessKey": c.secret_access_key,
            "Token": c.session_token,
            "AccountId": account,
            "Expiration": expiration,
        }),
    )
}

#[cfg(test)]
#[path = "pod_identity_tests.rs"]
mod tests;
