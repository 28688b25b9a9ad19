//! The VCN fabric: an nftables `bridge` table in the fabric network namespace that
//! delivers each secondary IP only through the bridge port of the VNIC holding it in the
//! control plane, whatever addresses the nodes configure themselves.
//!
//! The fabric is front-agnostic: the OCI and AWS fronts both describe their control
//! plane as [`Assignment`]s (address → the VNIC or ENI holding it, its bridge port and MAC).
//!
//! Flow: a front's state changes produce [`FabricUpdate`]s through a [`Feed`] (after the
//! propagation delay); [`run`] turns the newest into ruleset text with the pure
//! [`ruleset`] function and replaces the whole table in one `nft -f -` transaction inside
//! the namespace.
//!
//! Rules per secondary IP (forward hook, only frames the bridge forwards):
//! - ARP with sender IP = VIP (replies and gratuitous requests) entering by any port but
//!   the holder's is dropped; IPv6: Neighbor Advertisements whose target is the VIP.
//! - Frames with source IP = VIP entering by another port are dropped (OCI's source check).
//! - Frames to the VIP leaving by any port but the holder's are dropped.
//! - An address nobody holds (deleted, or held by a VNIC without a port) is dropped
//!   everywhere.
//!
//! Modes: [`FabricMode::MacSticky`] has only those drops, so a client whose ARP cache
//! still names the old holder's MAC stalls until gratuitous ARP updates it.
//! [`FabricMode::AssignmentRouted`] also rewrites the destination MAC of frames to the
//! VIP to the holder's MAC in the prerouting hook, as if the fabric routed by assignment.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::Error;

#[path = "fabric_feed.rs"]
mod feed;
pub use feed::Feed;

/// Where a secondary address is delivered: the network interface (an OCI VNIC or an AWS
/// ENI) the control plane says holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The address.
    pub ip: IpAddr,
    /// VNIC OCID or ENI id; `None` when nobody holds it (deleted / unassigned).
    pub vnic_id: Option<String>,
    /// The interface's fabric port.
    pub port: Option<String>,
    /// The interface's MAC.
    pub mac: Option<String>,
}

/// A snapshot of assignments for the fabric, numbered in change order.
#[derive(Debug, Clone)]
pub struct FabricUpdate {
    /// Change number (increasing).
    pub generation: u64,
    /// Every secondary address and where it goes.
    pub assignments: Vec<Assignment>,
}

/// What the fabric has applied.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricStatus {
    /// Generation of the last applied snapshot (0 = initial).
    pub generation: u64,
    /// The ruleset text last applied (empty without a fabric namespace).
    pub ruleset: String,
    /// Assignments the fabric enforces now.
    pub assignments: Vec<Assignment>,
    /// Last error from `nft`, if the last apply failed.
    pub error: Option<String>,
}

/// Name of the nftables table the simulator owns.
pub const TABLE: &str = "cloudsim_fabric";

/// How the fabric treats clients with stale neighbour caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FabricMode {
    /// Drop rules only (stricter; needs gratuitous ARP after a move). The default.
    #[default]
    MacSticky,
    /// Drop rules plus destination-MAC rewrite to the holder.
    AssignmentRouted,
}

/// Where and how to program the fabric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FabricConfig {
    /// Network namespace holding the bridge (created by the harness).
    pub netns: String,
    /// Bridge name (e.g. `br0`).
    pub bridge: String,
    /// Behaviour for stale neighbour caches.
    #[serde(default)]
    pub mode: FabricMode,
    /// Delay between a control-plane change and the fabric applying it.
    #[serde(default, with = "millis")]
    pub propagation_delay: Duration,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

fn v6_hex(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(a) => format!("0x{:032x}", u128::from(a)),
        IpAddr::V4(a) => format!("0x{:08x}", u32::from(a)),
    }
}

/// The full ruleset text (replaces the table atomically when fed to `nft -f -`).
///
/// The rules apply to every bridge in the namespace: matching the bridge by name
/// (`meta ibrname`) is not supported by every kernel, and the fabric namespace holds one
/// bridge. `bridge` is written in a comment for whoever reads `nft list ruleset`.
pub fn ruleset(bridge: &str, mode: FabricMode, assignments: &[Assignment]) -> String {
    let mut pre = String::new();
    let mut fwd = String::new();
    for a in assignments {
        let ip = a.ip;
        let (l3, arp_claim) = match ip {
            IpAddr::V4(_) => ("ip", format!("arp saddr ip {ip}")),
            // ICMPv6 NA: type 136; the target address is at transport offset 8 bytes.
            IpAddr::V6(_) => (
                "ip6",
                format!("icmpv6 type nd-neighbor-advert @th,64,128 {}", v6_hex(ip)),
            ),
        };
        match (&a.vnic_id, &a.port) {
            (Some(vnic), Some(port)) => {
                let _ = writeln!(fwd, "\t\t# {ip} -> {vnic} (port {port})");
                let _ = writeln!(fwd, "\t\t{arp_claim} iifname != \"{port}\" drop");
                let _ = writeln!(fwd, "\t\t{l3} saddr {ip} iifname != \"{port}\" drop");
                let _ = writeln!(fwd, "\t\t{l3} daddr {ip} oifname != \"{port}\" drop");
                if let (FabricMode::AssignmentRouted, Some(mac)) = (mode, &a.mac) {
                    let _ = writeln!(pre, "\t\t{l3} daddr {ip} ether daddr set {mac}");
                }
            }
            _ => {
                let _ = writeln!(fwd, "\t\t# {ip} -> nobody");
                let _ = writeln!(fwd, "\t\t{arp_claim} drop");
                let _ = writeln!(fwd, "\t\t{l3} saddr {ip} drop");
                let _ = writeln!(fwd, "\t\t{l3} daddr {ip} drop");
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "table bridge {TABLE}\ndelete table bridge {TABLE}\n# fabric of bridge {bridge}, managed by cloudsim\ntable bridge {TABLE} {{");
    if mode == FabricMode::AssignmentRouted {
        let _ = writeln!(
            out,
            "\tchain prerouting {{\n\t\ttype filter hook prerouting priority -300; policy accept;"
        );
        out.push_str(&pre);
        let _ = writeln!(out, "\t}}");
    }
    let _ = writeln!(
        out,
        "\tchain forward {{\n\t\ttype filter hook forward priority 0; policy accept;"
    );
    out.push_str(&fwd);
    let _ = writeln!(out, "\t}}\n}}");
    out
}

/// Runs `ip netns exec <netns> nft -f -` with `text` on stdin.
pub async fn apply(netns: &str, text: &str) -> Result<(), Error> {
    let mut child = tokio::process::Command::new("ip")
        .args(["netns", "exec", netns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Fabric(format!("cannot run ip netns exec nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .await
            .map_err(|e| Error::Fabric(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| Error::Fabric(e.to_string()))?;
    if !out.status.success() {
        return Err(Error::Fabric(format!(
            "nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Deletes the simulator's table from the namespace (best effort, at shutdown).
pub async fn remove(netns: &str) {
    let _ = tokio::process::Command::new("ip")
        .args([
            "netns", "exec", netns, "nft", "delete", "table", "bridge", TABLE,
        ])
        .stderr(Stdio::null())
        .status()
        .await;
}

/// Fails early when `nft` is not installed (Debian package `nftables`).
pub fn check_nft() -> Result<(), Error> {
    match std::process::Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => Ok(()),
        _ => Err(Error::Fabric(
            "nft not found: install the nftables package".into(),
        )),
    }
}

/// Applies one snapshot and returns the status to publish.
pub async fn apply_update(cfg: Option<&FabricConfig>, update: &FabricUpdate) -> FabricStatus {
    let mut status = FabricStatus {
        generation: update.generation,
        assignments: update.assignments.clone(),
        ..Default::default()
    };
    if let Some(cfg) = cfg {
        status.ruleset = ruleset(&cfg.bridge, cfg.mode, &update.assignments);
        if let Err(e) = apply(&cfg.netns, &status.ruleset).await {
            warn!(error = %e, generation = update.generation, "fabric update failed");
            status.error = Some(e.to_string());
        } else {
            info!(generation = update.generation, netns = %cfg.netns, "fabric updated");
        }
    }
    status
}

/// Applies updates in generation order, skipping ones overtaken by a newer snapshot.
pub async fn run(
    cfg: Option<FabricConfig>,
    mut rx: mpsc::UnboundedReceiver<FabricUpdate>,
    status: watch::Sender<FabricStatus>,
) {
    while let Some(update) = rx.recv().await {
        if update.generation <= status.borrow().generation {
            continue;
        }
        let s = apply_update(cfg.as_ref(), &update).await;
        let _ = status.send(s);
    }
}

#[cfg(test)]
#[path = "fabric_tests.rs"]
mod tests;
