//! A lightweight stand-in for the members' Patroni REST API: one listener per pod IP (a
//! loopback address `127.77.x.y`, which needs no configuration on Linux), answering
//! `GET /primary` and `GET /replica` the way Patroni does, from a shared role table the bench
//! flips during the leader-change storm.
//!
//! Data flow: bench → [`Roles::set`] → accept loops read the table per request → one HTTP/1.0
//! answer without a length, then the connection is closed: what Patroni's REST server (Python's
//! `BaseHTTPRequestHandler`, which keeps its default `HTTP/1.0`) does. [`answer`] is pure.

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    sync::{Arc, RwLock},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::error::{Context, Result};

/// What one member says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Patroni scope.
    pub scope: String,
    /// Member (pod) name.
    pub name: String,
    /// Whether it is the running primary (else a streaming replica).
    pub primary: bool,
}

/// The role table, shared between the bench and the listeners.
#[derive(Clone, Default)]
pub struct Roles(Arc<RwLock<HashMap<Ipv4Addr, Member>>>);

impl Roles {
    /// Sets what the member at `ip` answers.
    pub fn set(&self, ip: Ipv4Addr, m: Member) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ip, m);
    }

    /// Marks the member at `ip` primary or replica.
    pub fn set_primary(&self, ip: Ipv4Addr, primary: bool) {
        if let Some(m) = self
            .0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&ip)
        {
            m.primary = primary;
        }
    }

    fn get(&self, ip: Ipv4Addr) -> Option<Member> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ip)
            .cloned()
    }
}

/// Pure: status code and JSON body for `path` asked of member `m` (`None`: unknown address).
pub fn answer(m: Option<&Member>, path: &str) -> (u16, String) {
    let Some(m) = m else {
        return (503, "{}".into());
    };
    let (role, state) = if m.primary {
        ("primary", "running")
    } else {
        ("replica", "streaming")
    };
    let body = serde_json::json!({
        "state": state, "role": role, "server_version": 160004,
        "patroni": {"version": "4.0.4", "scope": m.scope, "name": m.name},
    })
    .to_string();
    let ok = match path.split('?').next().unwrap_or_default() {
        "/primary" | "/master" | "/leader" | "/read-write" => m.primary,
        "/replica" | "/read-only" => !m.primary,
        _ => true,
    };
    (if ok { 200 } else { 503 }, body)
}

/// Listeners on `port` of every address in `ips`; abort the handles to stop them.
pub async fn serve(roles: &Roles, ips: &[Ipv4Addr], port: u16) -> Result<Vec<JoinHandle<()>>> {
    let mut tasks = Vec::with_capacity(ips.len());
    for ip in ips {
        let addr = SocketAddr::from((*ip, port));
        let l = TcpListener::bind(addr)
            .await
            .ctx(format!("binding the REST stand-in on {addr}"))?;
        let (roles, ip) = (roles.clone(), *ip);
        tasks.push(tokio::spawn(async move {
            while let Ok((conn, _)) = l.accept().await {
                tokio::spawn(handle(conn, roles.clone(), ip));
            }
        }));
    }
    Ok(tasks)
}

/// Answers the one request on a connection, then closes it.
async fn handle(mut conn: TcpStream, roles: Roles, ip: Ipv4Addr) {
    let _ = conn.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, body) = answer(roles.get(ip).as_ref(), &path);
    let reason = if status == 200 {
        "OK"
    } else {
        "Service Unavailable"
    };
    let resp =
        format!("HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n\r\n{body}");
    if conn.write_all(resp.as_bytes()).await.is_ok() {
        let _ = conn.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(primary: bool) -> Member {
        Member {
            scope: "c0001".into(),
            name: "c0001-0".into(),
            primary,
        }
    }

    #[test]
    fn answers_like_patroni() {
        let cases = [
            (Some(m(true)), "/primary", 200, "primary"),
            (Some(m(true)), "/replica", 503, "primary"),
            (Some(m(false)), "/primary", 503, "replica"),
            (Some(m(false)), "/replica?lag=1MB", 200, "replica"),
            (Some(m(false)), "/health", 200, "replica"),
        ];
        for (member, path, code, role) in cases {
            let (c, body) = answer(member.as_ref(), path);
            assert_eq!(c, code, "{path}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["role"], role);
            assert_eq!(v["patroni"]["name"], "c0001-0");
            assert_eq!(v["patroni"]["scope"], "c0001");
        }
        assert_eq!(answer(None, "/primary").0, 503);
    }

    #[tokio::test]
    async fn answers_each_connection_once_and_follows_the_table() {
        let roles = Roles::default();
        let ip = Ipv4Addr::new(127, 77, 250, 10);
        roles.set(ip, m(true));
        let port = 38008;
        let tasks = serve(&roles, &[ip], port).await.unwrap();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("http://{ip}:{port}/primary");
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
        roles.set_primary(ip, false);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
        for t in tasks {
            t.abort();
        }
    }
}
