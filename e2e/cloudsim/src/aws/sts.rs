//! The STS Query API listener (HTTPS), reduced to `AssumeRoleWithWebIdentity` (IRSA):
//! `POST /` with a form body (or `GET` with a query), `Version=2011-06-15`, unsigned, as
//! AWS documents the call.
//!
//! Flow per request: read → decode parameters → fault plan → [`assume`] (pure: parameter
//! constraints, the token's issuer → the account's IAM OIDC provider, signature, audience,
//! expiry, then the role's trust statements on `<provider>:aud` / `<provider>:sub` and its
//! `MaxSessionDuration`) → [`super::sessions::SessionStore::issue`] → XML (`xmlns
//! https://sts.amazonaws.com/doc/2011-06-15/`), `x-amzn-RequestId`, call log (the token is
//! never logged; the issued access key id is).
//!
//! Error codes and statuses are those of STS's API reference (`InvalidIdentityToken` 400,
//! `ExpiredTokenException` 400, `AccessDenied` 403, `ValidationError` 400); messages are the
//! widely quoted ones, `GUESS:` where they are not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::Request;
use sha2::{Digest, Sha256};
use tracing::info;

use super::ctx::{AwsCallRecord, AwsCtx, Injected};
use super::faults::Action;
use super::federation::IamRole;
use super::iam::{glob, Iam};
use super::oidc::{self, TokenError};
use super::query::Params;
use super::server::{now_rfc3339, request_id};
use super::sessions::{IssuedCredentials, SessionSource};
use super::xml::escape;
use crate::http::{read_request, Outcome, Resp};
use crate::server::ctx::lock;

/// The only STS API version.
pub const VERSION: &str = "2011-06-15";
/// STS's XML namespace.
pub const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// `DurationSeconds` when the request has none.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

/// An STS error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct StsError {
    /// HTTP status.
    pub status: u16,
    /// Error code.
    pub code: String,
    /// Message.
    pub message: String,
}

impl StsError {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        StsError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
    /// 400 `InvalidIdentityToken`.
    pub fn invalid_token(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidIdentityToken", message)
    }
    /// 400 `ExpiredTokenException`, with AWS's message (its missing space included).
    pub fn expired(now: u64, exp: u64) -> Self {
        Self::new(
            400,
            "ExpiredTokenException",
            format!("Token expired: current date/time {now} must be before the expiration date/time{exp}"),
        )
    }
    /// 403 `AccessDenied`: no trust statement allows the caller (or the role does not exist).
    pub fn access_denied() -> Self {
        Self::new(
            403,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    }
    /// 400 `ValidationError` for one parameter. GUESS: the wording of Coral's validation.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationError", message)
    }
    /// `Sender` for 4xx, `Receiver` for 5xx (the `<Type>` of the error document).
    pub fn fault_type(&self) -> &'static str {
        if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        }
    }
}

/// The parameters of one call.
#[derive(Debug, Clone, Copy)]
pub struct WebIdentityRequest<'a> {
    /// `RoleArn`.
    pub role_arn: Option<&'a str>,
    /// `RoleSessionName`.
    pub session_name: Option<&'a str>,
    /// `WebIdentityToken`.
    pub token: Option<&'a str>,
    /// `DurationSeconds`.
    pub duration_secs: Option<&'a str>,
}

/// What a successful call grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assumed {
    /// The role.
    pub role: IamRole,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub session_arn: String,
    /// `AROA…:<session>`.
    pub assumed_role_id: String,
    /// The token's `sub`.
    pub subject: String,
    /// The audience that matched.
    pub audience: String,
    /// `arn:aws:iam::<account>:oidc-provider/<host/path>`.
    pub provider_arn: String,
    /// Lifetime of the credentials.
    pub duration: Duration,
}

fn null(field: &str) -> StsError {
    StsError::validation(format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn length(field: &str, min: usize, max: usize, v: &str) -> Result<(), StsError> {
    if (min..=max).contains(&v.len()) {
        return Ok(());
    }
    Err(StsError::validation(format!(
        "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length between {min} and {max}"
    )))
}

/// `AROA` and 17 characters derived from the role name: stable per role, as IAM's role ids.
fn role_id(name: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(name.as_bytes());
    let tail: String = digest
        .iter()
        .take(17)
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    format!("AROA{tail}")
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Decides one `AssumeRoleWithWebIdentity` call (pure).
pub fn assume(
    iam: &Iam,
    account_id: &str,
    req: &WebIdentityRequest<'_>,
    now: SystemTime,
) -> Result<Assumed, StsError> {
    let role_arn = req.role_arn.ok_or_else(|| null("roleArn"))?;
    let session = req.session_name.ok_or_else(|| null("roleSessionName"))?;
    let token = req.token.ok_or_else(|| null("webIdentityToken"))?;
    length("roleArn", 20, 2048, role_arn)?;
    length("roleSessionName", 2, 64, session)?;
    length("webIdentityToken", 4, 20_000, token)?;
    if !session
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(StsError::validation(format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration = match req.duration_secs {
        None => DEFAULT_DURATION,
        Some(d) => match d.parse::<u64>() {
            Ok(s) if (900..=43_200).contains(&s) => Duration::from_secs(s),
            _ => {
                return Err(StsError::validation(format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
                )))
            }
        },
    };
    let parsed = oidc::parse(token).map_err(|e| match e {
        TokenError::Algorithm(_) | TokenError::Malformed(_) | TokenError::Signature => {
            StsError::invalid_token(format!(
                "The web identity token that was passed could not be validated by AWS: {e}"
            ))
        }
    })?;
    let iss = &parsed.claims.iss;
    let provider = iam.provider(iss).ok_or_else(|| {
        StsError::invalid_token(format!(
            "No OpenIDConnect provider found in your account for {iss}"
        ))
    })?;
    let claims = parsed.verify(&provider.keys).map_err(|_| {
        // GUESS: wording for a signature no key of the provider verifies.
        StsError::invalid_token(
            "The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.",
        )
    })?;
    let audience = claims
        .aud
        .iter()
        .find(|a| provider.spec.client_ids.contains(a))
        .ok_or_else(|| StsError::invalid_token("Incorrect token audience"))?
        .clone();
    let now_s = secs(now);
    if claims.exp <= now_s {
        return Err(StsError::expired(now_s, claims.exp));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now_s) {
        // GUESS: a token not valid yet is refused as invalid.
        return Err(StsError::invalid_token("Token is not valid yet (nbf)"));
    }
    let prefix = format!("arn:aws:iam::{account_id}:role/");
    let role = role_arn
        .strip_prefix(&prefix)
        .map(|path| path.rsplit('/').next().unwrap_or(path))
        .and_then(|name| iam.role(name))
        .ok_or_else(StsError::access_denied)?;
    let host_path = provider.spec.host_path();
    let trusted = role.web_identity_trust.iter().any(|t| {
        t.provider == host_path
            && t.audience == audience
            && glob(t.subject.as_bytes(), claims.sub.as_bytes())
    });
    if !trusted {
        info!(role = %role.name, sub = %claims.sub, "web identity not trusted by the role");
        return Err(StsError::access_denied());
    }
    if duration.as_secs() > role.max_session_duration_secs {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    Ok(Assumed {
        session_arn: format!(
            "arn:aws:sts::{account_id}:assumed-role/{}/{session}",
            role.name
        ),
        assumed_role_id: format!("{}:{session}", role_id(&role.name)),
        subject: claims.sub.clone(),
        audience,
        provider_arn: format!("arn:aws:iam::{account_id}:oidc-provider/{host_path}"),
        duration,
        role: role.clone(),
    })
}

fn iso8601(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The success document.
pub fn response_xml(a: &Assumed, c: &IssuedCredentials, request_id: &str) -> String {
    format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"{NS}\"><AssumeRoleWithWebIdentityResult>\
<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken><Audience>{}</Audience>\
<AssumedRoleUser><Arn>{}</Arn><AssumedRoleId>{}</AssumedRoleId></AssumedRoleUser>\
<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
<SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>\
<Provider>{}</Provider></AssumeRoleWithWebIdentityResult>\
<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>",
        escape(&a.subject),
        escape(&a.audience),
        escape(&a.session_arn),
        escape(&a.assumed_role_id),
        escape(&c.access_key_id),
        escape(&c.secret_access_key),
        escape(&c.session_token),
        iso8601(c.expiration),
        escape(&a.provider_arn),
        escape(request_id),
    )
}

/// AWS's Query error document: `ErrorResponse/Error{Type,Code,Message}` + `RequestId`.
pub fn error_xml(e: &StsError, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        e.fault_type(),
        escape(&e.code),
        escape(&e.message),
        escape(request_id)
    )
}

fn call(ctx: &AwsCtx, p: &Params) -> Result<(Assumed, IssuedCredentials), StsError> {
    match p.get("Action") {
        Some("AssumeRoleWithWebIdentity") => {}
        Some(other) => {
            return Err(StsError::new(
                400,
                "InvalidAction",
                format!("Could not find operation {other} for version {VERSION}"),
            ))
        }
        None => return Err(StsError::new(400, "MissingAction", "Missing Action")),
    }
    if p.get("Version") != Some(VERSION) {
        // GUESS: STS's answer to a missing or other Version.
        return Err(StsError::new(
            400,
            "InvalidAction",
            format!(
                "Could not find operation AssumeRoleWithWebIdentity for version {}",
                p.get("Version").unwrap_or("NO_VERSION_SPECIFIED")
            ),
        ));
    }
    let now = SystemTime::now();
    let account = lock(&ctx.state).account_id.clone();
    let req = WebIdentityRequest {
        role_arn: p.get("RoleArn"),
        session_name: p.get("RoleSessionName"),
        token: p.get("WebIdentityToken"),
        duration_secs: p.get("DurationSeconds"),
    };
    let a = assume(&ctx.iam, &account, &req, now)?;
    let c = ctx
        .sessions
        .issue(&a.role, SessionSource::WebIdentity, a.duration, now);
    Ok((a, c))
}

/// Serves one STS request.
pub async fn handle(ctx: Arc<AwsCtx>, req: Request<Incoming>) -> Outcome {
    let rid = request_id();
    let render = |r: Result<String, StsError>| {
        match r {
            Ok(body) => Resp::xml(200, body),
            Err(e) => Resp::xml(e.status, error_xml(&e, &rid)),
        }
        .with("x-amzn-RequestId", rid.clone())
    };
    let req = match read_request(req).await {
        Ok(r) => r,
        Err(e) => return Outcome::Reply(render(Err(StsError::validation(e.to_string())))),
    };
    let params = Params::from_parts(&req.query, &req.body, req.header("content-type"));
    let mut record = AwsCallRecord {
        action: Action::AssumeRoleWithWebIdentity,
        access_key_id: None,
        principal: None,
        status: 0,
        code: None,
        request_id: rid.clone(),
        timestamp: now_rfc3339(),
        dry_run: false,
        injected: false,
        params: params
            .pairs()
            .iter()
            .map(|(k, v)| {
                let v = if k == "WebIdentityToken" {
                    "<redacted>"
                } else {
                    v
                };
                (k.clone(), v.to_string())
            })
            .collect::<BTreeMap<_, _>>(),
    };
    let result = match ctx.injected(Action::AssumeRoleWithWebIdentity).await {
        Injected::Drop => return Outcome::Drop,
        Injected::Fail(f) => {
            record.injected = true;
            let e = f.to_ec2().map_or_else(
                || StsError::new(500, "InternalFailure", "Injected by the simulator."),
                |e| StsError::new(e.status, &e.code, e.message),
            );
            Err(e)
        }
        Injected::Answer => call(&ctx, &params).map(|(a, c)| {
            record.principal = Some(a.role.name.clone());
            record.access_key_id = Some(c.access_key_id.clone());
            info!(role = %a.role.name, subject = %a.subject, "sts: web identity assumed a role");
            response_xml(&a, &c, &rid)
        }),
    };
    if let Err(e) = &result {
        record.code = Some(e.code.clone());
    }
    let resp = render(result);
    record.status = resp.status;
    ctx.calls.push(record);
    Outcome::Reply(resp)
}

#[cfg(test)]
#[path = "sts_tests.rs"]
mod tests;
