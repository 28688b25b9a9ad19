//! Calls members' health endpoints (Patroni REST `GET /primary`, `/replica`, or a label
//! source's health path) and the VIP itself. This is the side-effect edge of the decision.
//!
//! Data flow: [`crate::decide::probe_targets`] names the calls; [`Prober::probe_all`] runs them
//! concurrently with a short timeout (the lock holder gets the full one, other members the
//! shorter peer timeout so an unreachable old primary cannot slow a failover down) and returns
//! [`ProbeOutcome`]s for [`crate::decide::decide`]. A member that did not answer its last probe
//! is remembered for [`SUSPECT_MEMORY`]: as a peer it then gets only [`SUSPECT_TIMEOUT`], so a
//! lost node does not add the peer timeout to every reconcile of the failover it caused.
//! HTTPS clients with a CA from a Secret are built once per distinct CA bundle and reused.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pgvip_api::Scheme;

use crate::decide::{ProbeOutcome, ProbeTarget};
use crate::patroni::parse_member_status;

/// Largest body read from a health endpoint; Patroni's are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// How long a member that did not answer stays suspect (a lost node is lost for the whole
/// failover, Patroni's `ttl` and more).
pub const SUSPECT_MEMORY: Duration = Duration::from_secs(60);

/// The timeout of a suspect peer: a member on a LAN answers in milliseconds once it is back.
/// A lost node's probe sits on the path of the first decision after the lock changes hands
/// (150 ms cost node-lost failovers 150 ms of decide); a member still slower than this after
/// answering nothing stays suspect, and gets the full peer timeout again once
/// [`SUSPECT_MEMORY`] has passed.
pub const SUSPECT_TIMEOUT: Duration = Duration::from_millis(50);

/// Pure: whether a member that went unanswered at `at` is still suspect at `now`.
fn still_suspect(at: Instant, now: Instant) -> bool {
    now.saturating_duration_since(at) < SUSPECT_MEMORY
}

/// Pure: the timeout of one probe. The lock holder always gets the full timeout (its answer
/// decides); another member gets the peer timeout, or less while it is suspect because it did
/// not answer its last probe within [`SUSPECT_MEMORY`] of `now`.
pub fn timeout_for(
    is_lock_holder: bool,
    last_unanswered: Option<Instant>,
    now: Instant,
    (timeout, peer_timeout): (Duration, Duration),
) -> Duration {
    if is_lock_holder {
        return timeout;
    }
    match last_unanswered {
        Some(at) if still_suspect(at, now) => peer_timeout.min(SUSPECT_TIMEOUT),
        _ => peer_timeout,
    }
}

/// The URL of a health endpoint on `ip` (IPv6 in brackets).
pub fn url(scheme: Scheme, ip: IpAddr, port: u16, path: &str) -> String {
    let s = match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    match ip {
        IpAddr::V4(v4) => format!("{s}://{v4}:{port}{path}"),
        IpAddr::V6(v6) => format!("{s}://[{v6}]:{port}{path}"),
    }
}

/// Issues health requests.
#[derive(Debug)]
pub struct Prober {
    plain: reqwest::Client,
    with_ca: Mutex<HashMap<u64, reqwest::Client>>,
    /// Timeout for the lock holder and the VIP.
    pub timeout: Duration,
    /// Timeout for the other members (only asked whether they also claim primary).
    pub peer_timeout: Duration,
    /// Members (by IP) whose last probe got no answer, and when.
    unanswered: Mutex<HashMap<IpAddr, Instant>>,
}

/// A fresh connection per request, as HAProxy's health checks do. Patroni's REST server answers
/// HTTP/1.0 and closes every connection anyway; a server that kept them would cost about
/// 20 KiB of buffers per member here (40 MiB at 1,000 VIPs, whose members are probed on every
/// lock renewal).
fn builder(connect_timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .pool_max_idle_per_host(0)
        .user_agent(concat!("pgvip-controller/", env!("CARGO_PKG_VERSION")))
}

impl Prober {
    /// A prober with the given timeouts.
    pub fn new(timeout: Duration, peer_timeout: Duration) -> Result<Self, String> {
        let plain = builder(timeout)
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self {
            plain,
            with_ca: Mutex::new(HashMap::new()),
            timeout,
            peer_timeout,
            unanswered: Mutex::new(HashMap::new()),
        })
    }

    fn unanswered_map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.unanswered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client to use: the shared one, or one trusting only `ca_pem` (cached per bundle).
    pub fn client(&self, ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
        let Some(pem) = ca_pem else {
            return Ok(self.plain.clone());
        };
        let mut h = DefaultHasher::new();
        pem.hash(&mut h);
        let key = h.finish();
        let mut cache = self.with_ca.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("the CA bundle is not valid PEM: {e}"))?;
        if certs.is_empty() {
            return Err("the CA bundle holds no certificate".to_string());
        }
        let mut b = builder(self.timeout).tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c);
        }
        let client = b
            .build()
            .map_err(|e| format!("building the HTTPS client: {e}"))?;
        cache.insert(key, client.clone());
        Ok(client)
    }

    /// One GET with `timeout`; the body is parsed as Patroni JSON when it is.
    pub async fn get(
        &self,
        client: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> ProbeOutcome {
        let fut = async {
            let mut resp = client.get(url).timeout(timeout).send().await?;
            let status = resp.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, body))
        };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => ProbeOutcome::Failed(format!("no answer within {} ms", timeout.as_millis())),
            Ok(Err(e)) => ProbeOutcome::Failed(describe(&e, timeout)),
            Ok(Ok((status, body))) => ProbeOutcome::Answered {
                status,
                body: if body.len() > MAX_BODY {
                    None
                } else {
                    parse_member_status(&body)
                },
            },
        }
    }

    /// Probes every target concurrently; answers keyed by pod name.
    pub async fn probe_all(
        &self,
        client: &reqwest::Client,
        scheme: Scheme,
        port: u16,
        targets: &[ProbeTarget],
    ) -> BTreeMap<String, ProbeOutcome> {
        let now = Instant::now();
        // Looked up under the lock once, not held across the requests.
        let timeouts: Vec<Duration> = {
            let m = self.unanswered_map();
            targets
                .iter()
                .map(|t| {
                    let last = m.get(&t.ip).copied();
                    timeout_for(
                        t.is_lock_holder,
                        last,
                        now,
                        (self.timeout, self.peer_timeout),
                    )
                })
                .collect()
        };
        let calls = targets.iter().zip(timeouts).map(|(t, timeout)| {
            let u = url(scheme, t.ip, port, &t.path);
            async move { (t, self.get(client, &u, timeout).await) }
        });
        let answers = futures::future::join_all(calls).await;
        let mut m = self.unanswered_map();
        m.retain(|_, at| still_suspect(*at, now));
        answers
            .into_iter()
            .map(|(t, outcome)| {
                match outcome {
                    ProbeOutcome::Failed(_) => m.insert(t.ip, Instant::now()),
                    ProbeOutcome::Answered { .. } => m.remove(&t.ip),
                };
                (t.pod.clone(), outcome)
            })
            .collect()
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        let mut msg = String::from("connection failed");
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        msg
    } else {
        format!("request failed: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url(Scheme::Http, "10.0.0.7".parse().unwrap(), 8008, "/primary"),
            "http://10.0.0.7:8008/primary"
        );
        assert_eq!(
            url(Scheme::Https, "fd00::7".parse().unwrap(), 8443, "/replica"),
            "https://[fd00::7]:8443/replica"
        );
    }

    async fn serve(status: u16, body: &'static str) -> std::net::SocketAddr {
        use axum::{http::StatusCode, routing::get, Router};
        let app = Router::new().route(
            "/primary",
            get(move || async move { (StatusCode::from_u16(status).unwrap(), body) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    #[tokio::test]
    async fn probes_real_http_answers() {
        let ok = serve(
            200,
            r#"{"state":"running","role":"master","patroni":{"scope":"s","name":"p0"}}"#,
        )
        .await;
        let down = serve(
            503,
            r#"{"state":"running","role":"replica","patroni":{"scope":"s","name":"p1"}}"#,
        )
        .await;
        let p = Prober::new(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
        let c = p.client(None).unwrap();
        match p.get(&c, &format!("http://{ok}/primary"), p.timeout).await {
            ProbeOutcome::Answered {
                status: 200,
                body: Some(b),
            } => assert!(b.is_primary_role()),
            other => panic!("unexpected {other:?}"),
        }
        match p
            .get(&c, &format!("http://{down}/primary"), p.timeout)
            .await
        {
            ProbeOutcome::Answered {
                status: 503,
                body: Some(b),
            } => assert!(b.is_replica_role()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn refused_connection_is_a_failure_not_an_answer() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let p = Prober::new(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
        let c = p.client(None).unwrap();
        assert!(matches!(
            p.get(&c, &format!("http://{addr}/primary"), p.timeout)
                .await,
            ProbeOutcome::Failed(_)
        ));
    }

    #[test]
    fn suspect_peers_get_a_short_timeout_and_the_holder_never_does() {
        let now = Instant::now();
        let t = (Duration::from_secs(2), Duration::from_millis(500));
        let ago = |s| now.checked_sub(Duration::from_secs(s)).unwrap();
        let cases = [
            // (holder, last unanswered, expected)
            (true, None, Duration::from_secs(2)),
            (true, Some(ago(1)), Duration::from_secs(2)),
            (false, None, Duration::from_millis(500)),
            (false, Some(ago(1)), SUSPECT_TIMEOUT),
            (false, Some(ago(59)), SUSPECT_TIMEOUT),
            (false, Some(ago(61)), Duration::from_millis(500)),
        ];
        for (holder, last, want) in cases {
            assert_eq!(timeout_for(holder, last, now, t), want, "{holder} {last:?}");
        }
        // A peer timeout below the suspect timeout is kept.
        let short = (Duration::from_secs(2), Duration::from_millis(50));
        assert_eq!(
            timeout_for(false, Some(ago(1)), now, short),
            Duration::from_millis(50)
        );
    }

    #[tokio::test]
    async fn a_peer_that_did_not_answer_is_asked_with_the_short_timeout_next() {
        // A listener that accepts and never answers stands for a lost node.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let p = Prober::new(Duration::from_secs(2), Duration::from_millis(400)).unwrap();
        let c = p.client(None).unwrap();
        let targets = [ProbeTarget {
            pod: "pg-1".to_string(),
            ip: addr.ip(),
            path: "/primary".to_string(),
            is_lock_holder: false,
        }];
        let first = Instant::now();
        let a = p.probe_all(&c, Scheme::Http, addr.port(), &targets).await;
        assert!(matches!(a.get("pg-1"), Some(ProbeOutcome::Failed(_))));
        assert!(first.elapsed() >= Duration::from_millis(400));
        let second = Instant::now();
        let a = p.probe_all(&c, Scheme::Http, addr.port(), &targets).await;
        assert!(matches!(a.get("pg-1"), Some(ProbeOutcome::Failed(_))));
        assert!(
            second.elapsed() < Duration::from_millis(400),
            "{:?}",
            second.elapsed()
        );
    }

    #[test]
    fn bad_ca_bundle_is_reported() {
        let p = Prober::new(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
        assert!(p.client(Some(b"not a pem")).is_err());
    }
}
