//! The EC2 Query API listener (HTTPS): `POST /` with a form body (or `GET` with a query),
//! `Action` + `Version=2016-11-15`, XML answers.
//!
//! Flow per request: read → decode parameters → fault plan for the action (latency,
//! injected failure) → SigV4 authentication → the account's rate limit → `Version`,
//! `Action` → the action's parameters → IAM authorization (`UnauthorizedOperation`) →
//! `DryRun` (`DryRunOperation`) → the [`super::state::AwsState`] method under the lock → fabric
//! publication on changes → XML, `x-amzn-requestid`, call log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hyper::body::Incoming;
use hyper::Request;
use tracing::{debug, info};

use super::ctx::{AwsCallRecord, AwsCtx};
use super::error::Ec2Error;
use super::faults::{Action, AwsFailure};
use super::inventory::IamPrincipal;
use super::query::{Filter, Params};
use super::sigv4::{self, Expected, Secret, SignedRequest};
use super::state::{paginate, AssignRequest};
use super::{iam, xml};
use crate::http::{read_request, until_shutdown, Outcome, Req, Resp};
use crate::server::ctx::lock;

/// The only API version served.
pub const VERSION: &str = "2016-11-15";

/// A fresh request id (UUID v4 format, as EC2's).
pub fn request_id() -> String {
    let v: u128 = rand::random();
    let h = format!("{v:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn render(result: Result<String, Ec2Error>, rid: &str) -> Resp {
    match result {
        Ok(body) => Resp::xml(200, body),
        Err(e) => Resp::xml(e.status, xml::error(&e, rid)),
    }
    .with("x-amzn-requestid", rid)
}

/// Serves one EC2 request.
pub async fn handle(ctx: Arc<AwsCtx>, req: Request<Incoming>) -> Outcome {
    let rid = request_id();
    let req = match read_request(req).await {
        Ok(r) => r,
        Err(e) => return Outcome::Reply(render(Err(Ec2Error::invalid_value(e.to_string())), &rid)),
    };
    let params = Params::from_parts(&req.query, &req.body, req.header("content-type"));
    let action = Action::from_name(params.get("Action"));
    let mut record = AwsCallRecord {
        action,
        access_key_id: None,
        principal: None,
        status: 0,
        code: None,
        request_id: rid.clone(),
        timestamp: now_rfc3339(),
        dry_run: params.bool("DryRun").ok().flatten().unwrap_or(false),
        injected: false,
        params: params.pairs().iter().cloned().collect::<BTreeMap<_, _>>(),
    };
    let plan = ctx.faults.plan(action);
    if !plan.latency.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(plan.latency) => {}
            _ = until_shutdown(ctx.shutdown.clone()) => return Outcome::Drop,
        }
    }
    let result = match plan.failure {
        Some(f @ (AwsFailure::Drop | AwsFailure::Timeout)) => {
            record.injected = true;
            record.code = Some(
                if f == AwsFailure::Drop {
                    "ConnectionDropped"
                } else {
                    "Timeout"
                }
                .into(),
            );
            ctx.calls.push(record);
            info!(action = action.name(), request_id = %rid, failure = ?f, "fault: no answer");
            if f == AwsFailure::Timeout {
                until_shutdown(ctx.shutdown.clone()).await;
            }
            return Outcome::Drop;
        }
        Some(f) => {
            record.injected = true;
            Err(f.to_ec2().unwrap_or_else(|| Ec2Error::server(500)))
        }
        None => match authenticate(&ctx, &req) {
            Ok(p) => {
                record.principal = Some(p.name.clone());
                record.access_key_id = Some(p.access_key_id.clone());
                execute(&ctx, &params, action, &p, &rid)
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = &result {
        record.code = Some(e.code.clone());
        record.injected |= e.code == "RequestLimitExceeded";
    }
    let resp = render(result, &rid);
    record.status = resp.status;
    debug!(action = action.name(), status = resp.status, request_id = %rid, principal = ?record.principal, "ec2 call");
    ctx.calls.push(record);
    Outcome::Reply(resp)
}

fn authenticate(ctx: &AwsCtx, req: &Req) -> Result<IamPrincipal, Ec2Error> {
    if ctx.faults.auth_outage() {
        return Err(Ec2Error::auth_failure());
    }
    let region = lock(&ctx.state).region.clone();
    let signed = SignedRequest {
        method: &req.method,
        path: &req.path,
        raw_query: &req.raw_query,
        headers: &req.headers,
        body: &req.body,
    };
    let want = Expected {
        region: &region,
        service: "ec2",
        now: SystemTime::now(),
        max_skew: ctx.max_skew,
    };
    // Long-term keys and instance roles from the inventory, else a live STS / Pod Identity
    // session (the role's permissions under the session's key).
    let found: std::cell::OnceCell<IamPrincipal> = std::cell::OnceCell::new();
    sigv4::verify(&signed, &want, |k| {
        let p = ctx.iam.by_key(k).cloned().or_else(|| {
            ctx.sessions
                .principal(k, want.now)
                .map(|(principal, _)| principal)
        })?;
        let p = found.get_or_init(|| p);
        Some(Secret {
            secret_access_key: &p.secret_access_key,
            session_token: p.session_token.as_deref(),
        })
    })
    .map_err(|e| {
        info!(reason = %e, "authentication failed");
        e.to_ec2()
    })?;
    found.into_inner().ok_or_else(Ec2Error::auth_failure)
}

/// An action with its parameters parsed.
enum Call {
    Describe {
        ids: Vec<String>,
        filters: Vec<Filter>,
        max_results: Option<i64>,
        next_token: Option<String>,
    },
    Assign {
        eni: String,
        req: AssignRequest,
    },
    Unassign {
        eni: String,
        addresses: Vec<String>,
    },
}

fn parse(action: Action, p: &Params) -> Result<Call, Ec2Error> {
    Ok(match action {
        Action::DescribeNetworkInterfaces => Call::Describe {
            ids: p.list("NetworkInterfaceId")?,
            filters: p.filters()?,
            max_results: p.int("MaxResults")?,
            next_token: p.get("NextToken").map(String::from),
        },
        Action::AssignPrivateIpAddresses => Call::Assign {
            eni: p.require("NetworkInterfaceId")?.to_string(),
            req: AssignRequest {
                addresses: p.list("PrivateIpAddress")?,
                count: p.int("SecondaryPrivateIpAddressCount")?,
                allow_reassignment: p.bool("AllowReassignment")?.unwrap_or(false),
            },
        },
        Action::UnassignPrivateIpAddresses => Call::Unassign {
            eni: p.require("NetworkInterfaceId")?.to_string(),
            addresses: p.list("PrivateIpAddress")?,
        },
        Action::Imds
        | Action::AssumeRoleWithWebIdentity
        | Action::PodIdentityCredentials
        | Action::Unknown => {
            return Err(Ec2Error::invalid_action(
                p.get("Action").unwrap_or_default(),
            ))
        }
    })
}

fn execute(
    ctx: &Arc<AwsCtx>,
    p: &Params,
    action: Action,
    who: &IamPrincipal,
    rid: &str,
) -> Result<String, Ec2Error> {
    if !ctx.faults.take_token(Instant::now()) {
        return Err(Ec2Error::request_limit());
    }
    let name = p.get("Action").ok_or_else(Ec2Error::missing_action)?;
    match p.get("Version") {
        None => return Err(Ec2Error::missing("Version")),
        Some(VERSION) => {}
        Some(v) => return Err(Ec2Error::no_such_version(v)),
    }
    if action == Action::Unknown {
        return Err(Ec2Error::invalid_action(name));
    }
    // AWS's API reference and service model list `DryRun` for DescribeNetworkInterfaces only;
    // Assign/Unassign do not know the parameter, and EC2 refuses unknown parameters.
    if action != Action::DescribeNetworkInterfaces && p.get("DryRun").is_some() {
        return Err(Ec2Error::unknown_parameter("DryRun"));
    }
    let dry_run = p.bool("DryRun")?.unwrap_or(false);
    // GUESS: required parameters are checked before authorization and DryRun.
    let call = parse(action, p)?;
    let allowed = ctx
        .faults
        .actions_override(&who.name)
        .unwrap_or_else(|| who.allowed_actions.clone());
    let account = lock(&ctx.state).account_id.clone();
    if !iam::allows(&allowed, action.name()) {
        info!(principal = %who.name, action = action.name(), "unauthorized");
        return Err(Ec2Error::unauthorized(&who.arn(&account), action.name()));
    }
    if dry_run {
        // GUESS: DryRun checks permissions only, not that the resources exist.
        return Err(Ec2Error::dry_run());
    }
    let now = Instant::now();
    match call {
        Call::Describe {
            ids,
            filters,
            max_results,
            next_token,
        } => {
            let st = lock(&ctx.state);
            let all = st.describe(&ids, &filters, now)?;
            let (page, next) = paginate(all, max_results, next_token.as_deref(), !ids.is_empty())?;
            Ok(xml::describe_network_interfaces(
                rid,
                &page,
                next.as_deref(),
            ))
        }
        Call::Assign { eni, req } => {
            let mut st = lock(&ctx.state);
            let out = st.assign(&eni, &req, now, ctx.faults.remap_delay())?;
            if out.changed {
                ctx.changed(&st, out.remap_due);
                info!(eni = %eni, addresses = ?out.assigned, reassign = req.allow_reassignment, principal = %who.name, "private IPs assigned");
            }
            Ok(xml::assign_private_ip_addresses(rid, &eni, &out.assigned))
        }
        Call::Unassign { eni, addresses } => {
            let mut st = lock(&ctx.state);
            if st.unassign(&eni, &addresses, now)? {
                ctx.changed(&st, None);
                info!(eni = %eni, addresses = ?addresses, principal = %who.name, "private IPs unassigned");
            }
            Ok(xml::unassign_private_ip_addresses(rid))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_look_like_uuids() {
        let id = super::request_id();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        assert_ne!(id, super::request_id());
    }
}
