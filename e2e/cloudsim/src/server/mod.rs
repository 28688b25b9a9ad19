//! HTTP plumbing shared by every listener: accept loop (TLS or plain), request reading,
//! the `opc-request-id` header, fault plans, the call log, and shutdown.
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
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::api_error::ApiError;
use crate::calllog::CallRecord;
use crate::faults::{Failure, Operation};

pub use ctx::Ctx;

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;

/// A request, fully read.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method, upper case.
    pub method: String,
    /// Path and query as sent (the signature's request target).
    pub target: String,
    /// Path only.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Req {
    /// First query parameter of that name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// JSON body with a status.
    pub fn json(status: u16, body: &impl serde::Serialize) -> Resp {
        let body = serde_json::to_vec(body).unwrap_or_default();
        Resp {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }
    /// Plain text body.
    pub fn text(status: u16, body: impl Into<String>) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.into().into_bytes(),
        }
    }
    /// An empty answer (e.g. 204).
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: vec![],
        }
    }
    /// Adds a header.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.into(), value.into()));
        self
    }
}

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

/// Waits until shutdown is signalled.
pub async fn until_shutdown(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

enum Outcome {
    Reply(Resp),
    Drop,
}

async fn handle(ctx: Arc<Ctx>, router: Router, req: Request<Incoming>) -> Outcome {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let rid = request_id(
        parts
            .headers
            .get("opc-request-id")
            .and_then(|v| v.to_str().ok()),
    );
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Outcome::Reply(
                ApiError::invalid("Request body too large or unreadable.").into(),
            )
        }
    };
    let query = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let req = Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        target,
        query,
        headers: parts.headers,
        body,
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

fn to_hyper(resp: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Serves `listener` until shutdown, over TLS when `tls` is given.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, ctx: Arc<Ctx>, router: Router) {
    let shutdown = ctx.shutdown.clone();
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => { warn!(error = %e, "accept failed"); tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            _ = until_shutdown(shutdown.clone()) => return,
        };
        let (ctx, router, tls, shutdown) =
            (ctx.clone(), router.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let (ctx, router) = (ctx.clone(), router.clone());
                async move {
                    match handle(ctx, router, req).await {
                        Outcome::Reply(r) => Ok::<_, std::io::Error>(to_hyper(r)),
                        Outcome::Drop => Err(std::io::Error::other("dropped by fault injection")),
                    }
                }
            });
            let builder = hyper::server::conn::http1::Builder::new();
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(s) => {
                        tokio::select! {
                            r = builder.serve_connection(TokioIo::new(s), svc) => r,
                            _ = until_shutdown(shutdown) => Ok(()),
                        }
                    }
                    Err(e) => {
                        debug!(%peer, error = %e, "tls handshake failed");
                        return;
                    }
                },
                None => tokio::select! {
                    r = builder.serve_connection(TokioIo::new(stream), svc) => r,
                    _ = until_shutdown(shutdown) => Ok(()),
                },
            };
            if let Err(e) = result {
                debug!(%peer, error = %e, "connection ended");
            }
        });
    }
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
