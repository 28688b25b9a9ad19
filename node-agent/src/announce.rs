//! Sends announcement rounds (gratuitous ARP both forms / unsolicited NA) on an AF_PACKET
//! socket: the first round at once, from the caller, so the agent can report it; the rest
//! from a spawned task the agent aborts when the plan changes.
//!
//! Data flow: `agent` executes `Action::Announce` → [`Announcer::start`] → pure
//! `frames::announcement` → `rawsock::PacketSocket::send_frame`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::frames::announcement;
use crate::metrics::{KindLabel, Metrics};
use crate::netstate::Link;
use crate::rawsock::PacketSocket;

/// Owns the send-only packet socket, opened once at start-up (needs CAP_NET_RAW then only).
#[derive(Clone)]
pub struct Announcer {
    socket: Arc<PacketSocket>,
    metrics: Metrics,
}

impl Announcer {
    /// Opens the socket in the current network namespace.
    pub fn open(metrics: Metrics) -> Result<Self> {
        let socket = PacketSocket::sender().map_err(Error::AnnounceSocket)?;
        Ok(Self {
            socket: Arc::new(socket),
            metrics,
        })
    }

    /// Sends one round for `address` out of `link`, from the link's MAC.
    pub fn send_round(&self, link: &Link, address: IpAddr) -> Result<()> {
        let mac = link.mac.ok_or_else(|| Error::NoMac(link.name.clone()))?;
        for frame in announcement(mac, address) {
            self.socket
                .send_frame(link.index, frame.ethertype, frame.dst, &frame.bytes)
                .map_err(|source| Error::AnnounceSend {
                    interface: link.name.clone(),
                    source,
                })?;
            self.metrics
                .frames_sent
                .get_or_create(&KindLabel {
                    kind: frame.kind.as_str().to_string(),
                })
                .inc();
        }
        Ok(())
    }

    /// Sends the first round now and spawns the remaining `count - 1`, `interval` apart.
    /// A failure of a later round is logged and counted; the returned handle aborts the rest.
    pub fn start(
        &self,
        link: &Link,
        address: IpAddr,
        count: u32,
        interval: Duration,
    ) -> Result<Option<JoinHandle<()>>> {
        self.start_phases(link, address, &[(count, interval)])
    }

    /// Like [`Announcer::start`] with several phases of `(rounds, gap before each)`, one after
    /// the other: the first round of all is sent now and counts as the first phase's first.
    pub fn start_phases(
        &self,
        link: &Link,
        address: IpAddr,
        phases: &[(u32, Duration)],
    ) -> Result<Option<JoinHandle<()>>> {
        self.send_round(link, address)?;
        let gaps = round_gaps(phases);
        if gaps.is_empty() {
            return Ok(None);
        }
        let this = self.clone();
        let link = link.clone();
        Ok(Some(tokio::spawn(async move {
            for (i, gap) in gaps.into_iter().enumerate() {
                tokio::time::sleep(gap).await;
                if let Err(error) = this.send_round(&link, address) {
                    this.metrics.error(error.category());
                    tracing::warn!(%error, %address, interface = %link.name, round = i + 2, "announcement failed");
                }
            }
        })))
    }
}

/// Pure: the gaps before the second and later rounds of `phases` (the first round of all is
/// sent at once, as the first phase's first).
pub fn round_gaps(phases: &[(u32, Duration)]) -> Vec<Duration> {
    let mut gaps: Vec<Duration> = phases
        .iter()
        .flat_map(|&(n, gap)| std::iter::repeat_n(gap, n as usize))
        .collect();
    if !gaps.is_empty() {
        gaps.remove(0);
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_each_other_after_one_immediate_round() {
        let ms = Duration::from_millis;
        assert_eq!(round_gaps(&[(1, ms(500))]), Vec::<Duration>::new());
        assert_eq!(round_gaps(&[(3, ms(500))]), vec![ms(500), ms(500)]);
        assert_eq!(
            round_gaps(&[(2, ms(10)), (2, ms(200))]),
            vec![ms(10), ms(200), ms(200)]
        );
        assert_eq!(round_gaps(&[]), Vec::<Duration>::new());
        assert_eq!(round_gaps(&[(0, ms(10)), (2, ms(200))]), vec![ms(200)]);
    }
}
