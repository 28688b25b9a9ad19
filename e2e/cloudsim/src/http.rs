//! HTTP plumbing every front shares, whatever the cloud: the accept loop (TLS or plain),
//! reading a request fully into a [`Req`], writing a [`Resp`], and shutdown.
//!
//! Flow: [`serve`] accepts connections until shutdown and hands each request to the
//! front's service function; that function turns it into a [`Req`] with [`read_request`],
//! does its own routing, authentication, fault injection and logging, and returns an
//! [`Outcome`]: an answer, or "drop the connection" (a fault). Nothing here knows about
//! OCI or AWS error formats.

use std::future::Future;
use std::net::SocketAddr;
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
use tracing::{debug, warn};

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// A request, fully read.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method, upper case.
    pub method: String,
    /// Path and query as sent (the signature's request target).
    pub target: String,
    /// Path only, as sent (still percent-encoded).
    pub path: String,
    /// The raw query string as sent (without `?`), empty when absent.
    pub raw_query: String,
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
    /// XML body (`text/xml;charset=UTF-8`, as AWS's Query APIs answer).
    pub fn xml(status: u16, body: String) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "text/xml;charset=UTF-8".into())],
            body: body.into_bytes(),
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

/// What a front's service decided for one request.
#[derive(Debug)]
pub enum Outcome {
    /// Write this answer.
    Reply(Resp),
    /// Close the connection without an answer.
    Drop,
}

/// Why a request could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The body exceeded [`MAX_BODY`] or the connection broke while reading it.
    #[error("request body too large or unreadable")]
    Body,
}

/// Reads the whole request (body limited to [`MAX_BODY`]).
pub async fn read_request(req: Request<Incoming>) -> Result<Req, ReadError> {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| ReadError::Body)?
        .to_bytes();
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    let query = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    Ok(Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        target,
        raw_query,
        query,
        headers: parts.headers,
        body,
    })
}

/// Waits until shutdown is signalled.
pub async fn until_shutdown(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

fn to_hyper(resp: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(resp.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Serves `listener` until shutdown, over TLS when `tls` is given; each request goes to
/// `service`.
pub async fn serve<S, F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
    service: Arc<S>,
) where
    S: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Outcome> + Send + 'static,
{
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => { warn!(error = %e, "accept failed"); tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            _ = until_shutdown(shutdown.clone()) => return,
        };
        let (service, tls, shutdown) = (service.clone(), tls.clone(), shutdown.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let fut = service(req);
                async move {
                    match fut.await {
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
