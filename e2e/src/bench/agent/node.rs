//! The bench's one node: a network namespace with a veth pair inside it (`ens3`, the node's
//! interface in the subnet, and its peer, so frames sent on `ens3` go somewhere) and no route
//! out. Nothing touches the machine's own interfaces.
//!
//! Data flow: [`create`] → the agent runs inside → [`destroy`] (idempotent, also before
//! `create` to clean up after a crashed run).

use crate::{
    cmd::run,
    error::Result,
    netns::{kill_all_in, list},
};

/// Interface of the node in the subnet.
pub const IFNAME: &str = "ens3";
/// The node's own address on it.
pub const NODE_CIDR: &str = "10.99.0.10/24";
/// The VIP the bench moves on and off the node (inside the node's subnet).
pub const VIP: &str = "10.99.0.200";

/// Creates namespace `netns` with `ens3` (10.99.0.10/24) and its peer, both up.
pub fn create(netns: &str) -> Result<()> {
    destroy(netns);
    run("ip", &["netns", "add", netns])?;
    let ip = |args: &[&str]| {
        let mut full = vec!["-n", netns];
        full.extend_from_slice(args);
        run("ip", &full)
    };
    ip(&["link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", IFNAME, "type", "veth", "peer", "name", "peer0",
    ])?;
    ip(&["addr", "add", NODE_CIDR, "dev", IFNAME])?;
    ip(&["link", "set", IFNAME, "up"])?;
    ip(&["link", "set", "peer0", "up"])?;
    Ok(())
}

/// Kills whatever still runs in `netns` and deletes it; a missing namespace is fine.
pub fn destroy(netns: &str) {
    if list().is_ok_and(|l| l.iter().any(|n| n == netns)) {
        kill_all_in(netns);
        let _ = run("ip", &["netns", "del", netns]);
    }
}
