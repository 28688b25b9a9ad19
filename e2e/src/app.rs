//! The application: a client in the client namespace that writes through the VIP as a real app
//! would (one row per attempt, reconnecting after any error), recording every acknowledged write,
//! every error and when they happened. All its sockets are created on a thread that joined the
//! client namespace, so its traffic crosses the fabric like an application instance's would.
//!
//! The same writer also runs as libpq's multi-host client ([`WriterConfig::multi_host`] with
//! [`Target::ReadWrite`]): several hosts tried in order, keeping the first that accepts writes
//! (`target_session_attrs=read-write`). Pointed at the members themselves, it reaches the current
//! primary without any VIP: the floor a VIP method is measured against.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio_postgres::{Client, NoTls};

use crate::{
    error::{Error, Result},
    patroni::SUPERUSER_PASSWORD,
};

/// What happened to one write attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Committed; the data directory of the server that acknowledged it (names the member).
    Acked(String),
    /// Failed (connect, write or timeout), with the error text.
    Failed(String),
}

/// One write attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Sequence number (the row's key).
    pub seq: i64,
    /// When the attempt finished, relative to the writer's start.
    pub at: Duration,
    /// Its outcome.
    pub outcome: Outcome,
}

/// A running writer; stop it to get its log.
pub struct Writer {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    started: Instant,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Connection settings of the writer.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Address to connect to (the VIP), or several, comma-separated, tried in order (libpq's
    /// multi-host `host=a,b,c`).
    pub host: String,
    /// Network namespace the writer runs in.
    pub netns: String,
    /// Attempts per second.
    pub rate_hz: u32,
    /// Timeout of a connect (per host, as libpq's `connect_timeout`) or a write.
    pub timeout: Duration,
}

impl WriterConfig {
    /// A libpq multi-host client of `hosts` (tried in this order) from namespace `netns`.
    pub fn multi_host(
        hosts: &[String],
        netns: &str,
        rate_hz: u32,
        timeout: Duration,
    ) -> WriterConfig {
        WriterConfig {
            host: hosts.join(","),
            netns: netns.to_string(),
            rate_hz,
            timeout,
        }
    }

    /// The hosts it connects to, in order.
    pub fn hosts(&self) -> Vec<&str> {
        self.host
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect()
    }

    /// The gap between attempts at [`WriterConfig::rate_hz`].
    pub fn period(&self) -> Duration {
        Duration::from_millis(1000 / u64::from(self.rate_hz.max(1)))
    }

    /// The longest one connect may take: [`WriterConfig::timeout`] for each host, as libpq
    /// applies `connect_timeout` to every host it tries.
    pub fn connect_budget(&self) -> Duration {
        self.timeout * self.hosts().len().max(1) as u32
    }
}

/// Which server a connection must reach (libpq's `target_session_attrs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// Whatever answers at the address (the VIP, a proxy).
    #[default]
    Any,
    /// A server that accepts writes: the hosts are tried in order and the first that is not
    /// read-only is kept (`target_session_attrs=read-write`).
    ReadWrite,
}

/// The connection string of `cfg` for `target` (pure).
pub fn conn_string(cfg: &WriterConfig, target: Target) -> String {
    let mut s = format!(
        "host={} port=5432 user=postgres password={SUPERUSER_PASSWORD} dbname=postgres connect_timeout={}",
        cfg.hosts().join(","),
        cfg.timeout.as_secs().max(1)
    );
    if target == Target::ReadWrite {
        s.push_str(" target_session_attrs=read-write");
    }
    s
}

impl Writer {
    /// Creates the table if needed and starts writing.
    pub fn start(cfg: WriterConfig) -> Result<Writer> {
        Writer::start_with(cfg, Target::Any)
    }

    /// [`Writer::start`], connecting only to a server that matches `target`.
    pub fn start_with(cfg: WriterConfig, target: Target) -> Result<Writer> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let (s, l) = (stop.clone(), log.clone());
        let thread = crate::fwd::spawn_in_netns(&cfg.netns.clone(), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(write_loop(cfg, target, s, l, started));
            }
        })?;
        Ok(Writer {
            stop,
            log,
            started,
            thread: Some(thread),
        })
    }

    /// A snapshot of the attempts so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Time since the writer started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops writing and returns every attempt.
    pub fn stop(mut self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.attempts()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Connects to `cfg` for `target` within its connect budget, the connection driven on a task
/// of its own.
pub async fn open(cfg: &WriterConfig, target: Target) -> std::result::Result<Client, String> {
    let conn = conn_string(cfg, target);
    let (client, connection) =
        tokio::time::timeout(cfg.connect_budget(), tokio_postgres::connect(&conn, NoTls))
            .await
            .map_err(|_| "connect timeout".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn connect(cfg: &WriterConfig, target: Target) -> std::result::Result<Client, String> {
    let client = open(cfg, target).await?;
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS app_writes (seq bigint PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now(), server inet)")
        .await
        .map_err(|e| format!("create table: {}", pg_error(&e)))?;
    Ok(client)
}

/// The next sequence number (the table's key) for any writer of this process. One counter
/// for all: writers that each counted up from the microsecond they started collided as soon
/// as one had made more attempts than the microseconds between their starts (two writers
/// started back to back, as the dual-stack check does, then failed every write on a
/// duplicate key). Another process starts from its own later microsecond, far ahead of a
/// counter that moves one per attempt.
fn next_seq() -> i64 {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicI64> = std::sync::OnceLock::new();
    NEXT.get_or_init(|| std::sync::atomic::AtomicI64::new(chrono::Utc::now().timestamp_micros()))
        .fetch_add(1, Ordering::SeqCst)
        + 1
}

/// A PostgreSQL error with the server's message (tokio-postgres's own text is only `db error`).
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

async fn write_loop(
    cfg: WriterConfig,
    target: Target,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
    started: Instant,
) {
    let mut client: Option<Client> = None;
    let mut tick = tokio::time::interval(cfg.period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        let seq = next_seq();
        let outcome = match attempt(&cfg, target, &mut client, seq).await {
            Ok(server) => Outcome::Acked(server),
            Err(e) => {
                client = None;
                Outcome::Failed(e)
            }
        };
        if let Ok(mut l) = log.lock() {
            l.push(Attempt {
                seq,
                at: started.elapsed(),
                outcome,
            });
        }
    }
}

async fn attempt(
    cfg: &WriterConfig,
    target: Target,
    client: &mut Option<Client>,
    seq: i64,
) -> std::result::Result<String, String> {
    if client.is_none() {
        *client = Some(connect(cfg, target).await?);
    }
    let c = client.as_ref().ok_or("no connection")?;
    let row = tokio::time::timeout(
        cfg.timeout,
        c.query_one("INSERT INTO app_writes (seq, server) VALUES ($1, inet_server_addr()) RETURNING current_setting('data_directory')", &[&seq]),
    )
    .await
    .map_err(|_| "write timeout".to_string())?
    .map_err(|e| format!("write: {}", pg_error(&e)))?;
    row.try_get::<_, String>(0)
        .map_err(|e| format!("decode: {e}"))
}

/// The longest stretch without an acknowledged write between `from` and the last attempt: the
/// app-visible write outage.
pub fn outage(attempts: &[Attempt], from: Duration) -> Duration {
    let mut last_ack = from;
    let mut worst = Duration::ZERO;
    for a in attempts.iter().filter(|a| a.at >= from) {
        if matches!(a.outcome, Outcome::Acked(_)) {
            worst = worst.max(a.at.saturating_sub(last_ack));
            last_ack = a.at;
        }
    }
    worst
}

/// The writer's story for failure messages: each change between acknowledged and a distinct
/// error, with its time (`+1200ms connect: ...; +3800ms ok`).
pub fn timeline(attempts: &[Attempt]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut last: Option<Option<&str>> = None;
    for a in attempts {
        let what = match &a.outcome {
            Outcome::Acked(_) => None,
            Outcome::Failed(e) => Some(e.as_str()),
        };
        if last != Some(what) {
            out.push(format!("+{}ms {}", a.at.as_millis(), what.unwrap_or("ok")));
            last = Some(what);
        }
    }
    out.join("; ")
}

/// Sequence numbers that were acknowledged.
pub fn acked(attempts: &[Attempt]) -> Vec<i64> {
    attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Acked(_)))
        .map(|a| a.seq)
        .collect()
}

/// The data directory of the server that acknowledged the last acknowledged write.
pub fn last_server(attempts: &[Attempt]) -> Option<String> {
    attempts.iter().rev().find_map(|a| match &a.outcome {
        Outcome::Acked(s) => Some(s.clone()),
        Outcome::Failed(_) => None,
    })
}

/// Checks that every acknowledged sequence number is present in `present` (the table's rows).
pub fn missing_acked(attempts: &[Attempt], present: &[i64]) -> Vec<i64> {
    let set: std::collections::BTreeSet<i64> = present.iter().copied().collect();
    acked(attempts)
        .into_iter()
        .filter(|s| !set.contains(s))
        .collect()
}

/// Converts an error text into the harness error.
pub fn err(msg: impl Into<String>) -> Error {
    Error::Other(msg.into())
}

/// Whether `server` (a data directory) belongs to Patroni member `member`.
pub fn is_member(server: &str, member: &str) -> bool {
    server
        .trim_end_matches('/')
        .ends_with(&format!("/{member}/data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_of_one_process_never_share_a_sequence_number() {
        let mut seen: Vec<i64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..1000).map(|_| next_seq()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!((n, seen.len()), (4000, 4000));
    }

    fn a(seq: i64, ms: u64, ok: bool) -> Attempt {
        Attempt {
            seq,
            at: Duration::from_millis(ms),
            outcome: if ok {
                Outcome::Acked("x".into())
            } else {
                Outcome::Failed("e".into())
            },
        }
    }

    #[test]
    fn outage_is_the_longest_gap_between_acks() {
        let log = vec![
            a(1, 0, true),
            a(2, 50, true),
            a(3, 100, false),
            a(4, 900, false),
            a(5, 1250, true),
            a(6, 1300, true),
        ];
        assert_eq!(outage(&log, Duration::ZERO), Duration::from_millis(1200));
        assert_eq!(missing_acked(&log, &[1, 2, 5]), vec![6]);
        assert_eq!(acked(&log), vec![1, 2, 5, 6]);
    }

    #[test]
    fn multi_host_asks_for_a_read_write_server_and_budgets_every_host() {
        let hosts: Vec<String> = ["10.0.10.11", "10.0.10.12", "10.0.10.13"]
            .map(String::from)
            .to_vec();
        let cfg = WriterConfig::multi_host(&hosts, "client", 20, Duration::from_secs(1));
        assert_eq!(cfg.hosts(), ["10.0.10.11", "10.0.10.12", "10.0.10.13"]);
        assert_eq!(cfg.connect_budget(), Duration::from_secs(3));
        let s = conn_string(&cfg, Target::ReadWrite);
        assert!(
            s.starts_with("host=10.0.10.11,10.0.10.12,10.0.10.13 port=5432 "),
            "{s}"
        );
        assert!(
            s.contains(" connect_timeout=1") && s.ends_with(" target_session_attrs=read-write"),
            "{s}"
        );
        let parsed: std::result::Result<tokio_postgres::Config, _> = s.parse();
        assert!(parsed.is_ok_and(|c| c.get_hosts().len() == 3
            && c.get_target_session_attrs()
                == tokio_postgres::config::TargetSessionAttrs::ReadWrite));
        let vip = WriterConfig {
            host: "10.0.10.50".into(),
            netns: "client".into(),
            rate_hz: 20,
            timeout: Duration::from_secs(1),
        };
        assert_eq!(vip.connect_budget(), Duration::from_secs(1));
        assert!(!conn_string(&vip, Target::Any).contains("target_session_attrs"));
    }
}
