//! Driving one measured failover. A [`Rider`] is an application writer (the same one the
//! failover suite uses, 20 Hz, 1 s timeouts) through some address, or the floor writer (the same
//! writer as libpq's multi-host client of the members themselves, `target_session_attrs=
//! read-write`); it is warmed up, marked at the moment of the disturbance, and finished once its
//! writes land on the new primary: its outage is the longest stretch without an acknowledged
//! write after the mark, and every write it saw acknowledged must be on the new primary. pgvip's
//! measurement goes through the suite's `run_failover` (with its checks); the callback's through
//! [`callback_failover`], which waits on the same things minus pgvip's own status.

use std::time::Duration;

use serde::Serialize;

use crate::{
    app::{self, Target, Writer, WriterConfig},
    cluster::wait_for,
    error::Result,
    layout::NodeLayout,
    Testbed,
};

/// What one writer saw during one failover.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Seen {
    /// Longest stretch without an acknowledged write after the disturbance, ms.
    pub outage_millis: u64,
    /// Writes acknowledged after the disturbance.
    pub acked: usize,
    /// Attempts that failed after the disturbance.
    pub failed: usize,
}

/// Attempts per second of every writer (the failover suite's).
pub const RATE_HZ: u32 = 20;

/// Connect (per host) and write timeout of every writer (the failover suite's).
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// The floor writer's configuration: every member's address, in the layout's order.
pub fn floor_config(tb: &Testbed) -> WriterConfig {
    let hosts: Vec<String> = tb.layout.nodes.iter().map(|n| n.ip.clone()).collect();
    WriterConfig::multi_host(&hosts, &tb.layout.client.netns, RATE_HZ, TIMEOUT)
}

/// A writer measured alongside a failover.
pub struct Rider {
    writer: Writer,
    t0: Duration,
}

impl Rider {
    /// Starts writing to `host:5432` from the client namespace and waits until the last
    /// `clean` attempts were all acknowledged (a proxy may balance onto replicas at first).
    pub async fn start(tb: &Testbed, host: &str, clean: usize) -> Result<Rider> {
        let cfg = WriterConfig {
            host: host.to_string(),
            netns: tb.layout.client.netns.clone(),
            rate_hz: RATE_HZ,
            timeout: TIMEOUT,
        };
        Rider::warm(Writer::start(cfg)?, host, clean).await
    }

    /// Starts the floor writer: libpq multi-host straight to the members' addresses (in the
    /// layout's order), keeping the first that accepts writes, from the client namespace with
    /// the same rate and timeouts as the VIP writer.
    pub async fn floor(tb: &Testbed, clean: usize) -> Result<Rider> {
        let cfg = floor_config(tb);
        let what = cfg.host.clone();
        Rider::warm(Writer::start_with(cfg, Target::ReadWrite)?, &what, clean).await
    }

    async fn warm(writer: Writer, what: &str, clean: usize) -> Result<Rider> {
        wait_for(
            &format!("{clean} acknowledged writes in a row through {what}"),
            Duration::from_secs(60),
            || async {
                let a = writer.attempts();
                (a.len() >= clean
                    && a[a.len() - clean..]
                        .iter()
                        .all(|x| matches!(x.outcome, app::Outcome::Acked(_))))
                .then_some(())
            },
        )
        .await?;
        Ok(Rider {
            writer,
            t0: Duration::ZERO,
        })
    }

    /// Marks the moment of the disturbance.
    pub fn mark(&mut self) {
        self.t0 = self.writer.elapsed();
    }

    /// Waits until writes after the mark are acknowledged by `new`, keeps writing one more
    /// second, stops, and checks that every acknowledged write is on `new`.
    pub async fn finish(self, tb: &Testbed, new: &NodeLayout) -> Result<Seen> {
        let t0 = self.t0;
        let landed = wait_for(
            &format!("writes acknowledged by {} after the failover", new.member),
            Duration::from_secs(90),
            || async {
                let a = self.writer.attempts();
                let after: Vec<_> = a.into_iter().filter(|x| x.at > t0).collect();
                (app::last_server(&after).is_some_and(|s| app::is_member(&s, &new.member))
                    && matches!(
                        after.last().map(|x| &x.outcome),
                        Some(app::Outcome::Acked(_))
                    ))
                .then_some(())
            },
        )
        .await;
        if landed.is_ok() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let attempts = self.writer.stop();
        landed?;
        tb.check_acked_on(new, &attempts).await?;
        let during: Vec<_> = attempts.iter().filter(|a| a.at >= t0).cloned().collect();
        let acked = app::acked(&during).len();
        Ok(Seen {
            outage_millis: app::outage(&attempts, t0).as_millis() as u64,
            acked,
            failed: during.len() - acked,
        })
    }
}

/// Waits for a leader other than `old`.
pub async fn new_leader(tb: &Testbed, old: &str) -> Result<NodeLayout> {
    let l = wait_for("a new Patroni leader", Duration::from_secs(90), || async {
        tb.wait_leader(Duration::from_millis(500))
            .await
            .ok()
            .filter(|l| l != old)
    })
    .await?;
    tb.member_node(&l).cloned()
}

/// What the three writers riding one failover saw.
pub struct Event {
    /// The old primary's node.
    pub old: NodeLayout,
    /// The new primary's node.
    pub new: NodeLayout,
    /// The VIP writer.
    pub vip: Seen,
    /// The writer through HAProxy.
    pub haproxy: Seen,
    /// The floor writer.
    pub floor: Seen,
}

/// One failover with the callback managing the VIP: the VIP writer, the HAProxy writer and the
/// floor writer all ride it.
pub async fn callback_failover(
    tb: &Testbed,
    haproxy: &str,
    disturb: impl AsyncFnOnce(&Testbed, &NodeLayout) -> Result<()>,
) -> Result<Event> {
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    let old = tb.member_node(&leader)?.clone();
    wait_for(
        "the VIP configured on the leader's node and assigned to its VNIC",
        Duration::from_secs(60),
        || async {
            let on_node = tb.nodes_with_vip().ok()?.contains(&old.name);
            let cloud = tb.cloud_assignment().await.ok()??;
            (on_node && cloud == old.vnic_id).then_some(())
        },
    )
    .await?;
    ride(tb, haproxy, &leader, old, async |_| Ok(()), disturb).await
}

/// The writers' part of one event: starts the HAProxy, floor and VIP writers (one after the
/// other, so their sequence ranges, microseconds at start, are far apart and their rows never
/// collide), runs `before` (checks with the writers running), marks, disturbs the old leader's
/// node, and finishes every writer on the new leader.
async fn ride(
    tb: &Testbed,
    haproxy: &str,
    leader: &str,
    old: NodeLayout,
    before: impl AsyncFnOnce(&NodeLayout) -> Result<()>,
    disturb: impl AsyncFnOnce(&Testbed, &NodeLayout) -> Result<()>,
) -> Result<Event> {
    let mut hap = Rider::start(tb, haproxy, 20).await?;
    let mut floor = Rider::floor(tb, 20).await?;
    let mut vip = Rider::start(tb, &tb.layout.vip, 10).await?;
    before(&old).await?;
    hap.mark();
    floor.mark();
    vip.mark();
    disturb(tb, &old).await?;
    let new = new_leader(tb, leader).await?;
    let (v, h, f) = futures::join!(
        vip.finish(tb, &new),
        hap.finish(tb, &new),
        floor.finish(tb, &new)
    );
    Ok(Event {
        old,
        new,
        vip: v?,
        haproxy: h?,
        floor: f?,
    })
}

/// One failover with a peer that manages the VIP on L2 by itself (vip-manager): the VIP, HAProxy
/// and floor writers ride it. Before the disturbance the VIP must be on the leader's node alone
/// and the client's neighbour entry name its MAC; afterwards the same of the new leader's node.
pub async fn peer_failover(
    tb: &Testbed,
    haproxy: &str,
    disturb: impl AsyncFnOnce(&Testbed, &NodeLayout) -> Result<()>,
) -> Result<Event> {
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    let old = tb.member_node(&leader)?.clone();
    on_alone(tb, &old).await?;
    let before = async |n: &NodeLayout| delivered_to(tb, n, "before the failover").await;
    let ev = ride(tb, haproxy, &leader, old, before, disturb).await?;
    on_alone(tb, &ev.new).await?;
    delivered_to(tb, &ev.new, "after the failover").await?;
    Ok(ev)
}

/// Waits until the VIP is configured on `node` and on no other node.
async fn on_alone(tb: &Testbed, node: &NodeLayout) -> Result<()> {
    wait_for(
        &format!("the VIP on {} alone", node.name),
        Duration::from_secs(60),
        || async { (tb.nodes_with_vip().ok()? == vec![node.name.clone()]).then_some(()) },
    )
    .await
}

/// Checks that the network delivers the VIP to `node` (on L2: the client's neighbour entry
/// names its MAC).
async fn delivered_to(tb: &Testbed, node: &NodeLayout, when: &str) -> Result<()> {
    let at = tb.cloud_assignment().await?;
    if at.as_deref() == Some(node.vnic_id.as_str()) {
        Ok(())
    } else {
        Err(crate::error::Error::Other(format!(
            "{when} the network delivers the VIP to {at:?}, expected {} ({})",
            node.vnic_id, node.name
        )))
    }
}
