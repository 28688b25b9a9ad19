//! Driving one measured failover. A [`Rider`] is an application writer (the same one the
//! failover suite uses, 20 Hz, 1 s timeouts) through some address; it is warmed up, marked at
//! the moment of the disturbance, and finished once its writes land on the new primary: its
//! outage is the longest stretch without an acknowledged write after the mark, and every write
//! it saw acknowledged must be on the new primary. pgvip's measurement goes through the suite's
//! `run_failover` (with its checks); the callback's through [`callback_failover`], which waits on
//! the same things minus pgvip's own status.

use std::time::Duration;

use serde::Serialize;

use crate::{
    app::{self, Writer, WriterConfig},
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

/// A writer measured alongside a failover.
pub struct Rider {
    writer: Writer,
    t0: Duration,
}

impl Rider {
    /// Starts writing to `host:5432` from the client namespace and waits until the last
    /// `clean` attempts were all acknowledged (a proxy may balance onto replicas at first).
    pub async fn start(tb: &Testbed, host: &str, clean: usize) -> Result<Rider> {
        let writer = Writer::start(WriterConfig {
            host: host.to_string(),
            netns: tb.layout.client.netns.clone(),
            rate_hz: 20,
            timeout: Duration::from_secs(1),
        })?;
        wait_for(
            &format!("{clean} acknowledged writes in a row through {host}"),
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

/// One failover with the callback managing the VIP: the VIP writer and the HAProxy writer both
/// ride it. Returns (old node, new node, VIP writer, HAProxy writer).
pub async fn callback_failover(
    tb: &Testbed,
    haproxy: &str,
    disturb: impl AsyncFnOnce(&Testbed, &NodeLayout) -> Result<()>,
) -> Result<(NodeLayout, NodeLayout, Seen, Seen)> {
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
    // Started one after the other, the writers' sequence ranges (microseconds at start) are
    // far apart, so their rows never collide.
    let mut hap = Rider::start(tb, haproxy, 20).await?;
    let mut vip = Rider::start(tb, &tb.layout.vip, 10).await?;
    hap.mark();
    vip.mark();
    disturb(tb, &old).await?;
    let new = new_leader(tb, &leader).await?;
    let (v, h) = futures::join!(vip.finish(tb, &new), hap.finish(tb, &new));
    Ok((old, new, v?, h?))
}
