//! The drill's application probe: what a client of the VIP sees, 20 attempts a second, each
//! with a 1 s timeout, reconnecting after every failure (the testbed's independent writer does
//! the same, so the two measure the same outage).
//!
//! Data flow: [`AppProbe::run`] loops until dropped, appending one [`Sample`] per attempt to
//! the shared log the drill reconcile reads. A `write` probe keeps one PostgreSQL connection
//! to the VIP and runs `SELECT txid_current()` (it assigns and commits a transaction id, so
//! only a writable primary answers; no table is created); a `rest` probe asks Patroni's
//! `GET /primary` through the VIP and records which member answered.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

use crate::decide::ProbeOutcome;
use crate::drill::measure::Sample;
use crate::probe::Prober;

/// Time between attempts.
pub const PERIOD: Duration = Duration::from_millis(50);
/// Timeout of one connect or one attempt.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// The shared probe log.
pub type Log = Arc<Mutex<Vec<Sample>>>;

/// What the probe does per attempt.
pub enum AppProbe {
    /// PostgreSQL through the VIP.
    Write(Box<tokio_postgres::Config>),
    /// Patroni `GET /primary` through the VIP.
    Rest {
        /// Client (HTTPS with the REST CA when the VIP's REST API uses it).
        client: reqwest::Client,
        /// `http(s)://<vip>:<port>/primary`.
        url: String,
    },
}

impl AppProbe {
    /// `write` or `rest`, for the status.
    pub fn kind(&self) -> &'static str {
        match self {
            AppProbe::Write(_) => "write",
            AppProbe::Rest { .. } => "rest",
        }
    }

    /// A write probe of `database` on `host:port` as `user`.
    pub fn write(host: &str, port: u16, user: &str, password: &str, database: &str) -> Self {
        let mut c = tokio_postgres::Config::new();
        c.host(host)
            .port(port)
            .user(user)
            .password(password)
            .dbname(database)
            .application_name("pgvip-drill")
            .connect_timeout(TIMEOUT);
        AppProbe::Write(Box::new(c))
    }

    /// Probes until dropped, appending to `log` with times from `started`.
    pub async fn run(&self, prober: &Prober, log: Log, started: Instant) {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut conn: Option<Connection> = None;
        loop {
            tick.tick().await;
            let (ok, member, error) = match self {
                AppProbe::Write(cfg) => match write_once(cfg, &mut conn).await {
                    Ok(()) => (true, None, None),
                    Err(e) => {
                        conn = None;
                        (false, None, Some(e))
                    }
                },
                AppProbe::Rest { client, url } => match prober.get(client, url, TIMEOUT).await {
                    ProbeOutcome::Answered { status: 200, body } => {
                        (true, body.and_then(|b| b.name), None)
                    }
                    ProbeOutcome::Answered { status, .. } => {
                        (false, None, Some(format!("GET {url} answered {status}")))
                    }
                    ProbeOutcome::Failed(e) => (false, None, Some(format!("GET {url}: {e}"))),
                },
            };
            let sample = Sample {
                at: started.elapsed(),
                ok,
                member,
                error,
            };
            if let Ok(mut l) = log.lock() {
                l.push(sample);
            }
        }
    }
}

/// A client and the task driving its connection (aborted with it).
struct Connection {
    client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn write_once(
    cfg: &tokio_postgres::Config,
    conn: &mut Option<Connection>,
) -> Result<(), String> {
    if conn.is_none() {
        let (client, connection) = tokio::time::timeout(TIMEOUT, cfg.connect(NoTls))
            .await
            .map_err(|_| "connect: no answer within 1 s".to_string())?
            .map_err(|e| format!("connect: {}", pg_error(&e)))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        *conn = Some(Connection { client, driver });
    }
    let c = conn.as_ref().ok_or("no connection")?;
    tokio::time::timeout(TIMEOUT, c.client.simple_query("SELECT txid_current()"))
        .await
        .map_err(|_| "write: no answer within 1 s".to_string())?
        .map_err(|e| format!("write: {}", pg_error(&e)))?;
    Ok(())
}

/// The server's message when there is one (e.g. "cannot execute txid_current() during
/// recovery", "password authentication failed"), else the client's.
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
