//! The admin endpoint (plain HTTP, loopback): lets another process drive faults and read
//! the call log, the control-plane assignments and the fabric status.
//!
//! - `GET /calls` → `[CallRecord]`; `DELETE /calls` clears the log.
//! - `POST /faults` with a [`FaultCommand`] JSON.
//! - `GET /assignments` → every secondary IP and its VNIC/port (control plane).
//! - `POST /attachments` with `{"vnicId": …, "state": "DETACHED"}` sets a VNIC's attachment
//!   lifecycle state (a detach done outside pgvip).
//! - `GET /fabric` → what the fabric applied last (generation, ruleset, assignments).
//! - `GET /healthz` → `ok`.

use std::sync::Arc;

use super::ctx::lock;
use super::{boxed, Ctx, Handled, HandlerFuture, Req, Resp};
use crate::api_error::ApiError;
use crate::faults::{FaultCommand, Operation};

/// Routes an admin request.
pub fn route(ctx: Arc<Ctx>, req: Req) -> (Operation, HandlerFuture) {
    (
        Operation::Admin,
        boxed(async move { Handled::anon(answer(&ctx, &req)) }),
    )
}

fn answer(ctx: &Ctx, req: &Req) -> Resp {
    match (req.method.as_str(), req.path.trim_end_matches('/')) {
        ("GET", "/healthz") => Resp::text(200, "ok"),
        ("GET", "/calls") => Resp::json(200, &ctx.calls.records()),
        ("DELETE", "/calls") => {
            ctx.calls.clear();
            Resp::empty(204)
        }
        ("POST", "/faults") => match serde_json::from_slice::<FaultCommand>(&req.body) {
            Ok(cmd) => {
                tracing::info!(command = ?cmd, "fault command");
                ctx.faults.apply(cmd);
                Resp::empty(204)
            }
            Err(e) => ApiError::invalid(format!("Invalid fault command: {e}")).into(),
        },
        ("POST", "/attachments") => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Change {
                vnic_id: String,
                state: String,
            }
            match serde_json::from_slice::<Change>(&req.body) {
                Ok(c) => match lock(&ctx.state).set_attachment_state(&c.vnic_id, &c.state) {
                    Ok(()) => {
                        tracing::info!(vnic = %c.vnic_id, state = %c.state, "attachment state set");
                        Resp::empty(204)
                    }
                    Err(e) => e.into(),
                },
                Err(e) => ApiError::invalid(format!("Invalid attachment change: {e}")).into(),
            }
        }
        ("GET", "/assignments") => Resp::json(200, &lock(&ctx.state).assignments()),
        ("GET", "/fabric") => Resp::json(200, &ctx.fabric.status()),
        _ => ApiError::no_route().into(),
    }
}
