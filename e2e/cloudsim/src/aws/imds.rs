//! Instance metadata service, IMDSv2 only (tokens required), one plain-HTTP listener per
//! instance: the listener port selects the instance, as the OCI front's IMDS does.
//!
//! Flow: `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds` (1..=21600)
//! issues a session token (refused with 403 when `X-Forwarded-For` is present, as AWS
//! documents); every `GET` needs a live token of this instance in
//! `X-aws-ec2-metadata-token` (401 otherwise) and answers from the EC2 state *as visible
//! now*, so `network/interfaces/macs/<mac>/local-ipv4s` shows a remap only once complete
//! (the check AWS's AssignPrivateIpAddresses documentation recommends).
//!
//! Paths: `meta-data/` listing, `instance-id`, `mac`, `local-ipv4`,
//! `placement/{region,availability-zone}`, `network/interfaces/macs/[<mac>/{interface-id,
//! local-ipv4s,subnet-id,vpc-id,device-number,subnet-ipv4-cidr-block,mac}]`,
//! `iam/security-credentials/[<role>]` (AWS's credential JSON), and
//! `dynamic/instance-identity/document`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;

use super::ctx::{AwsCallRecord, AwsCtx, Injected};
use super::faults::Action;
use super::server::{now_rfc3339, request_id};
use crate::http::{read_request, Outcome, Req, Resp};
use crate::server::ctx::lock;

/// Longest token lifetime AWS allows (6 hours).
pub const MAX_TTL: u64 = 21_600;

/// GUESS: the lifetime of the role credentials IMDS reports (AWS rotates them hourly and
/// reports an expiration a few hours ahead); the simulator's never actually expire.
const CREDENTIAL_LIFETIME: chrono::Duration = chrono::Duration::hours(6);

/// Serves one IMDS request of `instance_id`.
pub async fn handle(ctx: Arc<AwsCtx>, req: Request<Incoming>, instance_id: String) -> Outcome {
    let Ok(req) = read_request(req).await else {
        return Outcome::Reply(Resp::text(400, "Bad Request"));
    };
    let mut record = AwsCallRecord {
        action: Action::Imds,
        access_key_id: None,
        principal: Some(instance_id.clone()),
        status: 0,
        code: None,
        request_id: request_id(),
        timestamp: now_rfc3339(),
        dry_run: false,
        injected: false,
        params: BTreeMap::from([
            ("method".to_string(), req.method.clone()),
            ("path".to_string(), req.path.clone()),
        ]),
    };
    let resp = match ctx.injected(Action::Imds).await {
        Injected::Drop => return Outcome::Drop,
        Injected::Fail(f) => {
            record.injected = true;
            let status = f.to_ec2().map_or(500, |e| e.status);
            Resp::text(status, "Injected by the simulator.")
        }
        Injected::Answer => answer(&ctx, &req, &instance_id),
    };
    record.status = resp.status;
    ctx.calls.push(record);
    Outcome::Reply(resp)
}

fn not_found() -> Resp {
    Resp::text(404, "Not Found")
}

fn issue_token(ctx: &AwsCtx, req: &Req, instance_id: &str) -> Resp {
    if req.headers.contains_key("x-forwarded-for") {
        return Resp::text(403, "Forbidden");
    }
    let ttl = req
        .header("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|t| (1..=MAX_TTL).contains(t));
    let Some(ttl) = ttl else {
        return Resp::text(
            400,
            "Bad Request: missing or invalid x-aws-ec2-metadata-token-ttl-seconds",
        );
    };
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let now = Instant::now();
    let mut tokens = lock(&ctx.imds_tokens);
    tokens.retain(|_, (_, exp)| *exp > now);
    tokens.insert(
        token.clone(),
        (instance_id.to_string(), now + Duration::from_secs(ttl)),
    );
    Resp::text(200, token).with("x-aws-ec2-metadata-token-ttl-seconds", ttl.to_string())
}

fn token_ok(ctx: &AwsCtx, req: &Req, instance_id: &str) -> bool {
    let Some(t) = req.header("x-aws-ec2-metadata-token") else {
        return false;
    };
    lock(&ctx.imds_tokens)
        .get(t)
        .is_some_and(|(i, exp)| i == instance_id && *exp > Instant::now())
}

fn answer(ctx: &AwsCtx, req: &Req, instance_id: &str) -> Resp {
    match (req.method.as_str(), req.path.as_str()) {
        ("PUT", "/latest/api/token") => return issue_token(ctx, req, instance_id),
        ("GET", _) => {}
        _ => return Resp::text(405, "Method Not Allowed"),
    }
    if !token_ok(ctx, req, instance_id) {
        return Resp::text(401, "Unauthorized");
    }
    let Some(path) = req.path.strip_prefix("/latest/") else {
        return not_found();
    };
    if path == "dynamic/instance-identity/document" {
        return identity_document(ctx, instance_id);
    }
    let Some(md) = path
        .strip_prefix("meta-data/")
        .or((path == "meta-data").then_some(""))
    else {
        return not_found();
    };
    meta_data(ctx, md, instance_id)
}

fn identity_document(ctx: &AwsCtx, instance_id: &str) -> Resp {
    let st = lock(&ctx.state);
    let Some(inst) = st.instance(instance_id) else {
        return not_found();
    };
    let ip = st
        .enis_of(instance_id)
        .first()
        .map(|e| e.primary_ip.to_string());
    Resp::json(
        200,
        &json!({
            "accountId": st.account_id,
            "architecture": "x86_64",
            "availabilityZone": inst.availability_zone,
            "imageId": "ami-0e2e0000000000000",
            "instanceId": inst.id,
            "instanceType": "m5.large",
            "pendingTime": "2024-01-01T00:00:00Z",
            "privateIp": ip,
            "region": st.region,
            "version": "2017-09-30",
        }),
    )
}

fn meta_data(ctx: &AwsCtx, md: &str, instance_id: &str) -> Resp {
    let now = Instant::now();
    let st = lock(&ctx.state);
    let Some(inst) = st.instance(instance_id) else {
        return not_found();
    };
    let enis = st.enis_of(instance_id);
    let text = |s: String| Resp::text(200, s);
    let md = md.trim_end_matches('/');
    match md {
        "" => text("iam/\ninstance-id\nlocal-ipv4\nmac\nnetwork/\nplacement/".into()),
        "instance-id" => text(inst.id.clone()),
        "placement" => text("availability-zone\nregion".into()),
        "placement/region" => text(st.region.clone()),
        "placement/availability-zone" => text(inst.availability_zone.clone()),
        "mac" => enis.first().map_or_else(not_found, |e| text(e.mac.clone())),
        "local-ipv4" => enis
            .first()
            .map_or_else(not_found, |e| text(e.primary_ip.to_string())),
        "network" => text("interfaces/".into()),
        "network/interfaces" => text("macs/".into()),
        "network/interfaces/macs" => text(
            enis.iter()
                .map(|e| format!("{}/", e.mac))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        "iam" => text("info\nsecurity-credentials/".into()),
        "iam/security-credentials" => inst.iam_role.clone().map_or_else(not_found, text),
        _ => {
            if let Some(role) = md.strip_prefix("iam/security-credentials/") {
                return credentials(ctx, inst.iam_role.as_deref(), role);
            }
            let Some(rest) = md.strip_prefix("network/interfaces/macs/") else {
                return not_found();
            };
            let (mac, field) = rest.split_once('/').unwrap_or((rest, ""));
            let Some(e) = enis.iter().find(|e| e.mac == mac) else {
                return not_found();
            };
            let subnet = st.subnet(&e.subnet_id);
            match field {
                "" => text("device-number\ninterface-id\nlocal-ipv4s\nmac\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id".into()),
                "interface-id" => text(e.id.clone()),
                "mac" => text(e.mac.clone()),
                "device-number" => text(e.attachment.as_ref().map_or(0, |a| a.device_index).to_string()),
                "subnet-id" => text(e.subnet_id.clone()),
                "vpc-id" => subnet.map_or_else(not_found, |s| text(s.vpc_id.clone())),
                "subnet-ipv4-cidr-block" => subnet.map_or_else(not_found, |s| text(s.cidr_block.clone())),
                "local-ipv4s" => {
                    let mut ips = vec![e.primary_ip.to_string()];
                    ips.extend(st.visible_secondaries(&e.id, now).iter().map(|i| i.to_string()));
                    text(ips.join("\n"))
                }
                _ => not_found(),
            }
        }
    }
}

fn credentials(ctx: &AwsCtx, role: Option<&str>, asked: &str) -> Resp {
    let Some(p) = role
        .filter(|r| *r == asked)
        .and_then(|r| ctx.iam.by_name(r))
    else {
        return not_found();
    };
    let now = chrono::Utc::now();
    let fmt =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Resp::json(
        200,
        &json!({
            "Code": "Success",
            "LastUpdated": fmt(now),
            "Type": "AWS-HMAC",
            "AccessKeyId": p.access_key_id,
            "SecretAccessKey": p.secret_access_key,
            "Token": p.session_token,
            "Expiration": fmt(now + CREDENTIAL_LIFETIME),
        }),
    )
}
