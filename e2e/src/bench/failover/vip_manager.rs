//! The L2 peer: Debian's vip-manager (1.0.2) on every node, as its documentation runs it next to
//! Patroni. It polls the DCS (etcd's v2 keys: the only DCS API 1.0.2 has besides Consul) for
//! Patroni's leader key every `interval` ms (its default 1000), and on the node whose member
//! name the key holds adds the address with `ip` and sends a gratuitous ARP; everywhere else it
//! removes it. So the testbed's Patroni runs on the bench-only etcd DCS ([`crate::dcs`]) for
//! these measurements. The command line is rendered by a pure function; `start` runs one
//! vip-manager per node inside its namespace as root (it needs `NET_ADMIN` and a raw socket),
//! with pid files that `testbed down` also stops.

use std::{path::PathBuf, process::Command};

use crate::{
    cmd::{self, spawn_detached, stop_pidfile},
    dcs,
    error::Result,
    layout::{Layout, NodeLayout},
};

/// The executable (Debian's package).
pub const BIN: &str = "/usr/bin/vip-manager";

/// The prefix length the VIP is added with (the other methods of the bench add a /32 too).
pub const NETMASK: u8 = 32;

/// vip-manager's arguments on `node` (pure): the VIP, the node's interface, the leader key as
/// trigger key and the node's member name as trigger value, the DCS etcd; the poll interval is
/// left at its default.
pub fn args(layout: &Layout, node: &NodeLayout) -> Vec<String> {
    [
        ("--ip", layout.vip.clone()),
        ("--netmask", NETMASK.to_string()),
        ("--interface", node.ifname.clone()),
        ("--trigger-key", dcs::leader_key(layout)),
        ("--trigger-value", node.member.clone()),
        ("--dcs-type", "etcd".to_string()),
        ("--dcs-endpoints", dcs::endpoint(layout)),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

/// `vip-manager --version`, trimmed (empty when it is not installed).
pub fn version() -> String {
    cmd::run(BIN, &["--version"])
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// What the results file records about the method: the version and the first node's command
/// line (the others differ in interface and trigger value only).
pub fn describe(layout: &Layout) -> String {
    let first = layout
        .nodes
        .first()
        .map(|n| args(layout, n).join(" "))
        .unwrap_or_default();
    format!(
        "Debian's vip-manager ({}) on every node, as root in its namespace: {BIN} {first} \
         (poll interval: its default, 1000 ms). Patroni on etcd (Debian's etcd-server {}, v2 \
         API, key prefix {}) during its measurements, on the Kubernetes DCS during pgvip's",
        version(),
        etcd_version(),
        dcs::NAMESPACE
    )
}

/// The DCS etcd's version line (`etcd Version: …`), trimmed to the number.
fn etcd_version() -> String {
    cmd::run(dcs::ETCD, &["--version"])
        .ok()
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("etcd Version: ").map(str::to_string))
        })
        .unwrap_or_default()
}

fn pidfile(layout: &Layout, node: &NodeLayout) -> PathBuf {
    layout.path(&format!("bench-vip-manager-{}.pid", node.name))
}

/// Starts vip-manager on every node.
pub fn start(layout: &Layout) -> Result<()> {
    for n in &layout.nodes {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &n.netns, BIN])
            .args(args(layout, n));
        spawn_detached(
            &mut c,
            &pidfile(layout, n),
            &layout.path(&format!("logs/vip-manager-{}.log", n.name)),
        )?;
    }
    Ok(())
}

/// Stops vip-manager on every node.
pub fn stop(layout: &Layout) -> Result<()> {
    for n in &layout.nodes {
        stop_pidfile(&pidfile(layout, n), std::time::Duration::from_secs(3))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_node_triggers_on_its_own_member_name_and_interface() {
        let l = Layout::standard("/s".into());
        let a = args(&l, &l.nodes[1]).join(" ");
        assert_eq!(
            a,
            format!(
                "--ip 10.0.10.200 --netmask 32 --interface ens3 --trigger-key /service/{}/leader \
                 --trigger-value pg-1 --dcs-type etcd --dcs-endpoints http://10.0.10.5:2379",
                l.scope
            )
        );
        assert!(args(&l, &l.nodes[2]).contains(&"pg-2".to_string()));
    }
}
