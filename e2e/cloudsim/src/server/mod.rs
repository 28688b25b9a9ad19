//! The OCI front's request pipeline over the shared [`crate::http`] plumbing: the
//! `opc-request-id` header, fault plans, the call log, and OCI's JSON errors.
//!
//! Flow per request: [`serve`] reads it into a [`Req`], asks the listener's router for the
//! [`Operation`] and handler, applies the fault plan (latency, injected failure), runs
//! the handler, stamps `opc-request-id`, logs the call, and writes the answer (or drops /
//! holds the connection when a fault says so).

pub mod admin;
pub mod core;
pub mod ctx;
pub mod identity;
pub mod imds;
pub mod retry;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::Request;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::api_error::ApiError;
use crate::calllog::CallRecord;
use crate::faults::{Failure, Operation};
use crate::http::{read_request, Outcome};

pub use crate::http::{until_shutdown, Req, Resp};
pub use ctx::Ctx;

impl From<ApiError> for Resp {
    fn from(e: ApiError) -> Resp {
        let r = Resp {
            status: e.status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: e.body().into_bytes(),
        };
        match e.retry_after {
            Some(s) => r.with("retry-after", s.to_string()),
            None => r,
        }
    }
}

/// What a handler produced.
#[derive(Debug)]
pub struct Handled {
    /// The answer.
    pub resp: Resp,
    /// Authenticated principal, for the call log.
    pub principal: Option<String>,
    /// Whether the answer came from the rate limiter.
    pub injected: bool,
}

impl Handled {
    /// An answer without principal.
    pub fn anon(resp: impl Into<Resp>) -> Handled {
        Handled {
            resp: resp.into(),
            principal: None,
            injected: false,
        }
    }
}

/// A boxed handler future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Handled> + Send>>;

/// A listener's router: request → operation and handler.
pub type Router = Arc<dyn Fn(Arc<Ctx>, Req) -> (Operation, HandlerFuture) + Send + Sync>;

/// A fresh `opc-request-id`; appended to the client's own id when it sent one.
/// GUESS: OCI answers `<client id>/<server id>` when the client supplies one.
fn request_id(client: Option<&str>) -> String {
    let own = format!("{:032X}", rand::random::<u128>());
    match client {
        Some(c) if !c.is_empty() => format!("{c}/{own}"),
        _ => own,
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn handle(ctx: Arc<Ctx>, router: Router, req: Request<Incoming>) -> Outcome {
    let rid = request_id(
        req.headers()
            .get("opc-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    let req = match read_request(req).await {
        Ok(r) => r,
        Err(_) => {
            return Outcome::Reply(
                ApiError::invalid("Request body too large or unreadable.").into(),
            )
        }
    };
    let mut record = CallRecord {
        operation: Operation::Unknown,
        principal: None,
        status: 0,
        code: None,
        opc_request_id: rid.clone(),
        timestamp: now_rfc3339(),
        method: req.method.clone(),
        path: req.target.clone(),
        injected: false,
    };
    let (op, fut) = router(ctx.clone(), req);
    if op == Operation::Admin {
        return Outcome::Reply(fut.await.resp.with("opc-request-id", rid));
    }
    record.operation = op;
    let plan = ctx.faults.plan(op);
    if !plan.latency.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(plan.latency) => {}
            _ = until_shutdown(ctx.shutdown.clone()) => return Outcome::Drop,
        }
    }
    let handled = match plan.failure {
        Some(Failure::Drop) => {
            record.injected = true;
            record.code = Some("ConnectionDropped".into());
            ctx.calls.push(record);
            info!(operation = ?op, opc_request_id = %rid, "fault: dropping connection");
            return Outcome::Drop;
        }
        Some(Failure::Timeout) => {
            record.injected = true;
            record.code = Some("Timeout".into());
            ctx.calls.push(record);
            info!(operation = ?op, opc_request_id = %rid, "fault: holding connection");
            until_shutdown(ctx.shutdown.clone()).await;
            return Outcome::Drop;
        }
        Some(Failure::Throttle {
            retry_after_seconds,
        }) => Handled {
            resp: ApiError::too_many_requests(retry_after_seconds).into(),
            principal: None,
            injected: true,
        },
        Some(Failure::Status { status }) => Handled {
            resp: ApiError::server(status).into(),
            principal: None,
            injected: true,
        },
        Some(Failure::AnswerLate { millis }) => {
            let h = fut.await;
            info!(operation = ?op, opc_request_id = %rid, millis, "fault: served; holding the answer");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(millis)) => {}
                _ = until_shutdown(ctx.shutdown.clone()) => return Outcome::Drop,
            }
            h
        }
        None => fut.await,
    };
    let resp = handled.resp.with("opc-request-id", rid.clone());
    record.principal = handled.principal;
    record.status = resp.status;
    record.injected = handled.injected;
    if resp.status >= 400 {
        record.code = serde_json::from_slice::<serde_json::Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(String::from));
    }
    debug!(operation = ?op, status = resp.status, opc_request_id = %rid, principal = ?record.principal, "call");
    ctx.calls.push(record);
    Outcome::Reply(resp)
}

/// Serves `listener` until shutdown, over TLS when `tls` is given.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, ctx: Arc<Ctx>, router: Router) {
    let shutdown = ctx.shutdown.clone();
    let service = Arc::new(move |req: Request<Incoming>| handle(ctx.clone(), router.clone(), req));
    crate::http::serve(listener, tls, shutdown, service).await;
}

/// Boxes a handler future.
pub fn boxed<F: Future<Output = Handled> + Send + 'static>(f: F) -> HandlerFuture {
    Box::pin(f)
}

/// A router for paths nobody serves.
pub fn no_route() -> (Operation, HandlerFuture) {
    (
        Operation::Unknown,
        boxed(async { Handled::anon(ApiError::no_route()) }),
    )
}
