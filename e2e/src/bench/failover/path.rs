//! When the path to the new primary is back, free of any one client's timeout rhythm.
//!
//! The riding writers are serial: one attempt at a time, each waiting out its 1 s timeout. When
//! the old primary's node is lost, nothing on it can refuse, so each attempt through the VIP is
//! black-holed and the writer looks at the path only once a second; it resumes at its first
//! attempt after the path is back, anywhere up to a second later. The floor has the same rhythm
//! whenever the lost member comes before the new primary in its host list. The paired excess
//! of a lost node is therefore partly the phase of two one-second clocks, not the method.
//!
//! A [`PathProbe`] measures without that rhythm, on one clock for both sides:
//! - **through the VIP, open loop**: every 50 ms a new, independent attempt (a fresh connection,
//!   1 s connect and query timeouts) whatever the earlier ones are doing, as the many
//!   connections of a real application pool would;
//! - **the floor, per member**: one loop per member with its own connection, kept across the
//!   server's refusals (a replica answers at once that it cannot write), so the new primary is
//!   seen within 50 ms of accepting writes.
//!
//! Each attempt is `SELECT txid_current()`, which only a writable primary answers, and returns
//! the answering server's data directory. Data flow: [`PathProbe::start`] → [`PathProbe::mark`]
//! at the disturbance → [`PathProbe::finish`] → [`PathSeen`] (pure [`resumed_after`] on the
//! acknowledgements).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::Client;

use super::drive::{RATE_HZ, TIMEOUT};
use crate::{
    app::{self, Target, WriterConfig},
    error::{Error, Result},
    layout::NodeLayout,
    Testbed,
};

/// One acknowledged attempt: when it finished (since the probe's start) and which server.
type Ack = (Duration, String);

/// What the path probe saw of one failover.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PathSeen {
    /// From the disturbance to the first open-loop attempt through the VIP acknowledged by the
    /// new primary, ms.
    pub vip_resumed_millis: u64,
    /// From the disturbance to the first write the new primary accepted on its own address, ms.
    pub floor_resumed_millis: u64,
    /// The difference: how long after the new primary could take writes the VIP reached it, ms.
    pub excess_millis: i64,
    /// When the new primary first accepted a write on its own address (RFC 3339, ms).
    pub floor_resumed_at: String,
}

/// Both probes of one failover, on one clock.
pub struct PathProbe {
    stop: Arc<AtomicBool>,
    vip: Arc<Mutex<Vec<Ack>>>,
    floor: Arc<Mutex<Vec<Ack>>>,
    origin: Instant,
    mark: Duration,
    mark_wall: chrono::DateTime<chrono::Utc>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PathProbe {
    /// Starts both probes from the client namespace: open loop through `vip`, and one loop per
    /// member address.
    pub fn start(tb: &Testbed, vip: &str) -> Result<PathProbe> {
        let netns = tb.layout.client.netns.clone();
        let one = |host: &str| WriterConfig {
            host: host.to_string(),
            netns: netns.clone(),
            rate_hz: RATE_HZ,
            timeout: TIMEOUT,
        };
        let vip_cfg = one(vip);
        let members: Vec<WriterConfig> = tb.layout.nodes.iter().map(|n| one(&n.ip)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let vip_log: Arc<Mutex<Vec<Ack>>> = Arc::default();
        let floor_log: Arc<Mutex<Vec<Ack>>> = Arc::default();
        let origin = Instant::now();
        let (s, v, f) = (stop.clone(), Arc::clone(&vip_log), Arc::clone(&floor_log));
        let thread = crate::fwd::spawn_in_netns(&netns, move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    let mut loops = vec![tokio::spawn(open_loop(vip_cfg, s.clone(), v, origin))];
                    for m in members {
                        loops.push(tokio::spawn(member_loop(m, s.clone(), f.clone(), origin)));
                    }
                    futures::future::join_all(loops).await;
                });
            }
        })?;
        Ok(PathProbe {
            stop,
            vip: vip_log,
            floor: floor_log,
            origin,
            mark: Duration::ZERO,
            mark_wall: chrono::Utc::now(),
            thread: Some(thread),
        })
    }

    /// Marks the moment of the disturbance.
    pub fn mark(&mut self) {
        self.mark = self.origin.elapsed();
        self.mark_wall = chrono::Utc::now();
    }

    /// Stops both probes (call once the failover's writers have landed) and says when each
    /// side first reached `new` after the mark.
    pub fn finish(mut self, new: &NodeLayout) -> Result<PathSeen> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let read = |l: &Arc<Mutex<Vec<Ack>>>| l.lock().map(|v| v.clone()).unwrap_or_default();
        let after = |acks: &[Ack], what: &str| {
            resumed_after(acks, self.mark, &new.member).ok_or_else(|| {
                Error::Other(format!(
                    "the path probe {what} never reached {} after the disturbance",
                    new.member
                ))
            })
        };
        let vip = after(&read(&self.vip), "through the VIP")?;
        let floor = after(&read(&self.floor), "of the members")?;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let floor_at = self.mark_wall + chrono::Duration::from_std(floor).unwrap_or_default();
        Ok(PathSeen {
            vip_resumed_millis: ms(vip),
            floor_resumed_millis: ms(floor),
            excess_millis: super::results::excess(ms(vip), ms(floor)),
            floor_resumed_at: floor_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    }
}

impl Drop for PathProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Pure: the time from `mark` to the first acknowledgement by `member` that finished after it.
pub fn resumed_after(acks: &[Ack], mark: Duration, member: &str) -> Option<Duration> {
    acks.iter()
        .filter(|(at, server)| *at > mark && app::is_member(server, member))
        .map(|(at, _)| at.saturating_sub(mark))
        .min()
}

/// One attempt on `client`: the server's data directory if it accepted a transaction id.
async fn ask(client: &Client) -> std::result::Result<String, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT txid_current()::text, current_setting('data_directory')",
            &[],
        )
        .await?;
    row.try_get::<_, String>(1)
}

/// The attempt clock of `cfg` (its rate), with `missed` behaviour.
fn ticker(cfg: &WriterConfig, missed: tokio::time::MissedTickBehavior) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(cfg.period());
    tick.set_missed_tick_behavior(missed);
    tick
}

/// Adds one acknowledgement by `server`, now on the probe's clock.
fn record(log: &Mutex<Vec<Ack>>, origin: Instant, server: String) {
    if let Ok(mut l) = log.lock() {
        l.push((origin.elapsed(), server));
    }
}

/// Every period, an independent attempt on a fresh connection; acknowledgements go to `log`.
async fn open_loop(
    cfg: WriterConfig,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Ack>>>,
    origin: Instant,
) {
    let mut tick = ticker(&cfg, tokio::time::MissedTickBehavior::Skip);
    let cfg = Arc::new(cfg);
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        let (cfg, log) = (Arc::clone(&cfg), Arc::clone(&log));
        tokio::spawn(async move {
            let Ok(client) = app::open(&cfg, Target::Any).await else {
                return;
            };
            if let Ok(Ok(server)) = tokio::time::timeout(cfg.timeout, ask(&client)).await {
                record(&log, origin, server);
            }
        });
    }
}

/// One member, one attempt per period on a kept connection: dropped only when the connection
/// failed or timed out, not when the server refused (a replica, or a primary still promoting).
async fn member_loop(
    cfg: WriterConfig,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Ack>>>,
    origin: Instant,
) {
    let mut tick = ticker(&cfg, tokio::time::MissedTickBehavior::Delay);
    let mut client: Option<Client> = None;
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            client = app::open(&cfg, Target::Any).await.ok();
        }
        let Some(c) = client.as_ref() else { continue };
        match tokio::time::timeout(cfg.timeout, ask(c)).await {
            Ok(Ok(server)) => record(&log, origin, server),
            Ok(Err(e)) if e.as_db_error().is_some() => {}
            _ => client = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_at_the_first_acknowledgement_by_the_new_member_after_the_mark() {
        let ms = Duration::from_millis;
        let d = |m: &str| format!("/var/lib/testbed/{m}/data");
        let acks = vec![
            (ms(900), d("pg-0")),
            (ms(1200), d("pg-0")),
            (ms(3300), d("pg-1")),
            (ms(3100), d("pg-1")),
        ];
        assert_eq!(resumed_after(&acks, ms(1000), "pg-1"), Some(ms(2100)));
        assert_eq!(resumed_after(&acks, ms(1000), "pg-0"), Some(ms(200)));
        assert_eq!(resumed_after(&acks, ms(4000), "pg-1"), None);
        assert_eq!(resumed_after(&acks, ms(1000), "pg-2"), None);
    }
}
