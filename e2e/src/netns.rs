//! The testbed's network: one namespace per node, the client and the controller's host, all
//! attached by veth pairs to bridge `br0` inside the fabric namespace. Nothing is created in the
//! machine's own namespace: each veth is created inside the fabric namespace with its peer placed
//! straight into the target namespace, and no namespace gets a default route.

use std::time::Duration;

use crate::{
    cmd::{self, ip_in, run},
    error::{Error, Result},
    layout::Layout,
};

/// Creates every namespace, the bridge and the links, with addresses and MACs from `layout`.
pub fn create(layout: &Layout) -> Result<()> {
    for ns in layout.all_netns() {
        run("ip", &["netns", "add", &ns])?;
        ip_in(&ns, &["link", "set", "lo", "up"])?;
    }
    let fab = layout.fabric_netns.as_str();
    ip_in(
        fab,
        &[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ],
    )?;
    ip_in(fab, &["link", "set", "br0", "up"])?;
    let mut links: Vec<(&str, &str, &str, &str, &str, &str)> = layout
        .nodes
        .iter()
        .map(|n| {
            (
                n.netns.as_str(),
                n.ifname.as_str(),
                n.ip.as_str(),
                n.ip6.as_str(),
                n.mac.as_str(),
                n.fabric_port.as_str(),
            )
        })
        .collect();
    for h in [&layout.client, &layout.controller_host] {
        links.push((
            h.netns.as_str(),
            "eth0",
            h.ip.as_str(),
            h.ip6.as_str(),
            h.mac.as_str(),
            h.fabric_port.as_str(),
        ));
    }
    let prefix = layout.subnet_prefix.to_string();
    let prefix6 = layout
        .subnet6_cidr
        .split_once('/')
        .map_or("64", |(_, len)| len);
    for (ns, ifname, ip, ip6, mac, port) in links {
        ip_in(
            fab,
            &[
                "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns,
            ],
        )?;
        ip_in(ns, &["link", "set", ifname, "address", mac])?;
        ip_in(
            ns,
            &["addr", "add", &format!("{ip}/{prefix}"), "dev", ifname],
        )?;
        // Dual-stack; no duplicate address detection, so the address is usable at once.
        ip_in(
            ns,
            &[
                "addr",
                "add",
                &format!("{ip6}/{prefix6}"),
                "dev",
                ifname,
                "nodad",
            ],
        )?;
        ip_in(ns, &["link", "set", ifname, "up"])?;
        ip_in(fab, &["link", "set", port, "master", "br0", "up"])?;
    }
    Ok(())
}

/// Kills every process still running inside the testbed's namespaces, then deletes them.
/// Collects all errors instead of stopping at the first; a missing namespace is fine.
pub fn destroy(layout: &Layout) -> Result<()> {
    let existing = list()?;
    let mut errors = vec![];
    for ns in layout
        .all_netns()
        .into_iter()
        .filter(|n| existing.contains(n))
    {
        kill_all_in(&ns);
        if let Err(e) = run("ip", &["netns", "del", &ns]) {
            errors.push(e.to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "namespace teardown: {}",
            errors.join("; ")
        )))
    }
}

/// Names of the network namespaces that exist now.
pub fn list() -> Result<Vec<String>> {
    Ok(run("ip", &["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// SIGKILLs every process inside `ns` (testbed processes only ever run there or in groups the
/// harness recorded).
pub fn kill_all_in(ns: &str) {
    for _ in 0..3 {
        let pids = run("ip", &["netns", "pids", ns]).unwrap_or_default();
        let pids: Vec<i32> = pids
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Cuts (or restores) a node's link to the fabric, as if the node were lost.
pub fn set_fabric_port(layout: &Layout, port: &str, up: bool) -> Result<()> {
    ip_in(
        &layout.fabric_netns,
        &["link", "set", port, if up { "up" } else { "down" }],
    )
    .map(|_| ())
}

/// Adds nftables table `family name` with one chain holding `chain_body` inside namespace
/// `netns`, or deletes the table when `chain_body` is `None`.
pub fn nft_table(netns: &str, family: &str, name: &str, chain_body: Option<&str>) -> Result<()> {
    match chain_body {
        Some(body) => {
            let rules = format!("table {family} {name} {{\n  chain c {{\n    {body}\n  }}\n}}\n");
            cmd::run_input(
                "ip",
                &["netns", "exec", netns, "nft", "-f", "-"],
                Some(rules.as_bytes()),
            )
            .map(|_| ())
        }
        None => cmd::run_in(netns, "nft", &["delete", "table", family, name]).map(|_| ()),
    }
}

/// Makes the fabric drop (or deliver again) every gratuitous announcement of `vip` (ARP with
/// sender and target address both `vip`), so clients keep their neighbour entries: what a
/// switch that filters gratuitous ARP does. Normal ARP replies still pass.
pub fn block_announcements(layout: &Layout, vip: &str, block: bool) -> Result<()> {
    let rule = format!(
        "type filter hook forward priority 0;\n    ether type arp arp saddr ip {vip} arp daddr ip {vip} drop"
    );
    nft_table(
        &layout.fabric_netns,
        "bridge",
        "pgvip_announce_block",
        block.then_some(rule.as_str()),
    )
}

/// Runs a command inside a namespace (re-export for callers of this module).
pub use cmd::run_in;
