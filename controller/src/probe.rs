//! Calls members' health endpoints (Patroni REST `GET /primary`, `/replica`, or a label
//! source's health path) and the VIP itself. This is the side-effect edge of the decision.
//!
//! Data flow: [`crate::decide::probe_targets`] names the calls; [`Prober::probe_all`] runs them
//! concurrently with a short timeout (the lock holder gets the full one, other members the
//! shorter peer timeout so an unreachable old primary cannot slow a failover down) and returns
//! [`ProbeOutcome`]s for [`crate::decide::decide`]. A member that did not answer its last probe
//! is *suspect* for [`SUSPECT_MEMORY`]: as a peer it is then asked in the background, not on
//! the decision's path (see [`Ask::Behind`]), and its answer, when one comes, wakes the
//! reconcile so that it counts at once. A lost node thus costs a failover nothing after its
//! first unanswered probe. HTTPS clients with a CA from a Secret are built once per distinct
//! CA bundle and reused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pgvip_api::Scheme;

use crate::decide::{ProbeOutcome, ProbeTarget};
use crate::patroni::parse_member_status;

/// Largest body read from a health endpoint; Patroni's are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// How long a member that did not answer stays suspect (a lost node is lost for the whole
/// failover, Patroni's `ttl` and more).
pub const SUSPECT_MEMORY: Duration = Duration::from_secs(60);

/// Pure: whether a member that went unanswered at `at` is still suspect at `now`.
fn still_suspect(at: Instant, now: Instant) -> bool {
    now.saturating_duration_since(at) < SUSPECT_MEMORY
}

/// How one member is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// On the decision's path, with this timeout.
    Wait(Duration),
    /// In the background, with this timeout: the decision takes the member's last failure as
    /// its answer and does not wait. Only for a suspect peer, never the lock holder. Why that
    /// is safe: a peer is only asked whether it also claims to be primary, and that check
    /// samples it at reconcile times anyway; a suspect peer that answers again wakes the
    /// reconcile, which then asks it on the path, so a returning second primary still takes
    /// the address off every node (fail closed) within its answer's round trip.
    Behind(Duration),
}

/// Pure: how to ask one member. The lock holder always with the full timeout (its answer
/// decides); another member with the peer timeout, or in the background while it is suspect
/// because it did not answer a probe within [`SUSPECT_MEMORY`] of `now`.
pub fn ask_for(
    is_lock_holder: bool,
    last_unanswered: Option<Instant>,
    now: Instant,
    (timeout, peer_timeout): (Duration, Duration),
) -> Ask {
    if is_lock_holder {
        return Ask::Wait(timeout);
    }
    match last_unanswered {
        Some(at) if still_suspect(at, now) => Ask::Behind(peer_timeout),
        _ => Ask::Wait(peer_timeout),
    }
}

/// Called when a suspect member answers a background probe (wakes the VIP's reconcile).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

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
    unanswered: Arc<Mutex<HashMap<IpAddr, Instant>>>,
    /// Suspect members with a background probe under way (at most one each).
    behind: Arc<Mutex<HashSet<IpAddr>>>,
}

/// Locks `m`, also when a panicking holder poisoned it (the maps stay consistent: every
/// update is a single insert or remove).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            unanswered: Arc::default(),
            behind: Arc::default(),
        })
    }

    /// The client to use: the shared one, or one trusting only `ca_pem` (cached per bundle).
    pub fn client(&self, ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
        let Some(pem) = ca_pem else {
            return Ok(self.plain.clone());
        };
        let mut h = DefaultHasher::new();
        pem.hash(&mut h);
        let key = h.finish();
        let mut cache = lock(&self.with_ca);
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
        get(client, url, timeout).await
    }

    /// Probes every target concurrently; answers keyed by pod name. Suspect peers are asked in
    /// the background ([`Ask::Behind`]): their entry is a failure, and `wake` is called when one
    /// of them answers.
    pub async fn probe_all(
        &self,
        client: &reqwest::Client,
        scheme: Scheme,
        port: u16,
        targets: &[ProbeTarget],
        wake: Wake,
    ) -> BTreeMap<String, ProbeOutcome> {
        let now = Instant::now();
        // Looked up under the lock once, not held across the requests.
        let asks: Vec<Ask> = {
            let m = lock(&self.unanswered);
            targets
                .iter()
                .map(|t| {
                    let last = m.get(&t.ip).copied();
                    ask_for(
                        t.is_lock_holder,
                        last,
                        now,
                        (self.timeout, self.peer_timeout),
                    )
                })
                .collect()
        };
        let mut answers = BTreeMap::new();
        let mut calls = Vec::new();
        for (t, ask) in targets.iter().zip(asks) {
            let u = url(scheme, t.ip, port, &t.path);
            match ask {
                Ask::Wait(timeout) => {
                    calls.push(async move { (t, get(client, &u, timeout).await) })
                }
                Ask::Behind(timeout) => {
                    self.ask_behind(client, t.ip, u, timeout, wake.clone());
                    answers.insert(
                        t.pod.clone(),
                        ProbeOutcome::Failed(
                            "did not answer its last check; asked again in the background"
                                .to_string(),
                        ),
                    );
                }
            }
        }
        let waited = futures::future::join_all(calls).await;
        let mut m = lock(&self.unanswered);
        m.retain(|_, at| still_suspect(*at, now));
        for (t, outcome) in waited {
            match outcome {
                ProbeOutcome::Failed(_) => m.insert(t.ip, Instant::now()),
                ProbeOutcome::Answered { .. } => m.remove(&t.ip),
            };
            answers.insert(t.pod.clone(), outcome);
        }
        answers
    }

    /// Starts a background probe of a suspect member, unless one is under way: an answer
    /// clears the suspicion and calls `wake`; no answer renews it.
    fn ask_behind(
        &self,
        client: &reqwest::Client,
        ip: IpAddr,
        url: String,
        timeout: Duration,
        wake: Wake,
    ) {
        if !lock(&self.behind).insert(ip) {
            return;
        }
        let (client, unanswered, behind) =
            (client.clone(), self.unanswered.clone(), self.behind.clone());
        tokio::spawn(async move {
            let outcome = get(&client, &url, timeout).await;
            let answered = matches!(outcome, ProbeOutcome::Answered { .. });
            {
                let mut m = lock(&unanswered);
                if answered {
                    m.remove(&ip);
                } else {
                    m.insert(ip, Instant::now());
                }
            }
            lock(&behind).remove(&ip);
            if answered {
                wake();
            }
        });
    }
}

/// One GET with `timeout`; the body is parsed as Patroni JSON when it is.
async fn get(client: &reqwest::Client, url: &str, timeout: Duration) -> ProbeOutcome {
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
        serve_at("127.0.0.1:0".parse().unwrap(), status, body).await
    }

    /// A Patroni-like `/primary` answering `status` and `body` on `addr`.
    async fn serve_at(
        addr: std::net::SocketAddr,
        status: u16,
        body: &'static str,
    ) -> std::net::SocketAddr {
        use axum::{http::StatusCode, routing::get, Router};
        let app = Router::new().route(
            "/primary",
            get(move || async move { (StatusCode::from_u16(status).unwrap(), body) }),
        );
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
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
    fn suspect_peers_are_asked_in_the_background_and_the_holder_never_is() {
        let now = Instant::now();
        let t = (Duration::from_secs(2), Duration::from_millis(500));
        let ago = |s| now.checked_sub(Duration::from_secs(s)).unwrap();
        let (full, peer) = (Duration::from_secs(2), Duration::from_millis(500));
        let cases = [
            // (holder, last unanswered, expected)
            (true, None, Ask::Wait(full)),
            (true, Some(ago(1)), Ask::Wait(full)),
            (false, None, Ask::Wait(peer)),
            (false, Some(ago(1)), Ask::Behind(peer)),
            (false, Some(ago(59)), Ask::Behind(peer)),
            (false, Some(ago(61)), Ask::Wait(peer)),
        ];
        for (holder, last, want) in cases {
            assert_eq!(ask_for(holder, last, now, t), want, "{holder} {last:?}");
        }
    }

    fn target(addr: std::net::SocketAddr) -> [ProbeTarget; 1] {
        [ProbeTarget {
            pod: "pg-1".to_string(),
            ip: addr.ip(),
            path: "/primary".to_string(),
            is_lock_holder: false,
        }]
    }

    fn no_wake() -> Wake {
        Arc::new(|| {})
    }

    #[tokio::test]
    async fn a_peer_that_did_not_answer_costs_the_next_decisions_nothing() {
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
        let targets = target(addr);
        let first = Instant::now();
        let a = p
            .probe_all(&c, Scheme::Http, addr.port(), &targets, no_wake())
            .await;
        assert!(matches!(a.get("pg-1"), Some(ProbeOutcome::Failed(_))));
        assert!(first.elapsed() >= Duration::from_millis(400));
        for _ in 0..3 {
            let again = Instant::now();
            let a = p
                .probe_all(&c, Scheme::Http, addr.port(), &targets, no_wake())
                .await;
            assert!(matches!(a.get("pg-1"), Some(ProbeOutcome::Failed(_))));
            assert!(
                again.elapsed() < Duration::from_millis(50),
                "{:?}",
                again.elapsed()
            );
        }
        assert_eq!(
            lock(&p.behind).len(),
            1,
            "one background probe per member at a time"
        );
    }

    #[tokio::test]
    async fn a_suspect_peer_that_answers_again_wakes_the_reconcile_and_counts() {
        // Refused first (a member that is down), then a primary answering on the same port.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let p = Prober::new(Duration::from_secs(2), Duration::from_millis(400)).unwrap();
        let c = p.client(None).unwrap();
        let targets = target(addr);
        let a = p
            .probe_all(&c, Scheme::Http, addr.port(), &targets, no_wake())
            .await;
        assert!(matches!(a.get("pg-1"), Some(ProbeOutcome::Failed(_))));
        serve_at(addr, 200, r#"{"state":"running","role":"master"}"#).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let wake: Wake = Arc::new(move || {
            let _ = tx.send(());
        });
        let a = p
            .probe_all(&c, Scheme::Http, addr.port(), &targets, wake)
            .await;
        assert!(matches!(a.get("pg-1"), Some(ProbeOutcome::Failed(_))));
        tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("the answer wakes the reconcile");
        let a = p
            .probe_all(&c, Scheme::Http, addr.port(), &targets, no_wake())
            .await;
        assert!(
            matches!(
                a.get("pg-1"),
                Some(ProbeOutcome::Answered { status: 200, .. })
            ),
            "{a:?}"
        );
    }

    #[test]
    fn bad_ca_bundle_is_reported() {
        let p = Prober::new(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
        assert!(p.client(Some(b"not a pem")).is_err());
    }
}
