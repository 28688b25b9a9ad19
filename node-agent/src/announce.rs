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
        self.send_round(link, address)?;
        if count <= 1 {
            return Ok(None);
        }
        let this = self.clone();
        let link = link.clone();
        Ok(Some(tokio::spawn(async move {
            for round in 2..=count {
                tokio::time::sleep(interval).await;
                if let Err(error) = this.send_round(&link, address) {
                    this.metrics.error(error.category());
                    tracing::warn!(%error, %address, interface = %link.name, round, "announcement failed");
                }
            }
        })))
    }
}
