//! The AWS front's admin endpoint (plain HTTP, loopback): lets another process drive
//! faults and read the call log, the control plane and the fabric status.
//!
//! - `GET /calls` → `[AwsCallRecord]`; `DELETE /calls` clears the log.
//! - `POST /faults` with an [`AwsFaultCommand`] JSON.
//! - `GET /assignments` → every secondary address and the ENI/port it is visible on.
//! - `GET /state` → every ENI as Describe shows it now (JSON).
//! - `POST /attachments` with `{"eniId": …, "status": "detached"}` (a detach outside pgvip).
//! - `GET /fabric` → what the fabric applied last.
//! - `GET /healthz` → `ok`.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::Request;
use serde_json::json;

use super::ctx::AwsCtx;
use super::faults::AwsFaultCommand;
use crate::http::{read_request, Outcome, Resp};
use crate::server::ctx::lock;

fn bad(message: String) -> Resp {
    Resp::json(
        400,
        &json!({ "code": "InvalidParameterValue", "message": message }),
    )
}

/// Serves one admin request.
pub async fn handle(ctx: Arc<AwsCtx>, req: Request<Incoming>) -> Outcome {
    let req = match read_request(req).await {
        Ok(r) => r,
        Err(e) => return Outcome::Reply(bad(e.to_string())),
    };
    let now = Instant::now();
    let resp = match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("GET", "/healthz") => Resp::text(200, "ok"),
        ("GET", "/calls") => Resp::json(200, &ctx.calls.records()),
        ("DELETE", "/calls") => {
            ctx.calls.clear();
            Resp::empty(204)
        }
        ("POST", "/faults") => match serde_json::from_slice::<AwsFaultCommand>(&req.body) {
            Ok(cmd) => {
                tracing::info!(command = ?cmd, "aws fault command");
                ctx.faults.apply(cmd);
                Resp::empty(204)
            }
            Err(e) => bad(format!("Invalid fault command: {e}")),
        },
        ("GET", "/assignments") => Resp::json(200, &lock(&ctx.state).assignments(now)),
        ("GET", "/state") => {
            let st = lock(&ctx.state);
            let enis: Vec<_> = st
                .eni_ids()
                .iter()
                .filter_map(|id| st.view(id, now))
                .map(|v| {
                    json!({
                        "networkInterfaceId": v.id,
                        "subnetId": v.subnet_id,
                        "availabilityZone": v.az,
                        "macAddress": v.mac,
                        "status": v.status,
                        "privateIpAddress": v.primary_ip.to_string(),
                        "secondaryPrivateIpAddresses": v.secondary.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                        "attachment": v.attachment.as_ref().map(|a| json!({
                            "attachmentId": a.id, "instanceId": a.instance_id,
                            "deviceIndex": a.device_index, "status": a.status,
                        })),
                    })
                })
                .collect();
            Resp::json(200, &enis)
        }
        ("POST", "/attachments") => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Change {
                eni_id: String,
                status: String,
            }
            match serde_json::from_slice::<Change>(&req.body) {
                Ok(c) => match lock(&ctx.state).set_attachment_status(&c.eni_id, &c.status) {
                    Ok(()) => Resp::empty(204),
                    Err(e) => Resp::json(400, &json!({ "code": e.code, "message": e.message })),
                },
                Err(e) => bad(format!("Invalid attachment change: {e}")),
            }
        }
        ("GET", "/fabric") => Resp::json(200, &ctx.fabric.status()),
        _ => Resp::json(404, &json!({ "code": "NotFound", "message": "Not Found" })),
    };
    Outcome::Reply(resp)
}
