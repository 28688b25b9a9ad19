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

/// Makes the fabric drop (or deliver again) every gratuitous announcement of `vip`, so clients
/// keep their neighbour entries: what a switch that filters gratuitous ARP or unsolicited
/// neighbour advertisements does. Normal ARP replies and solicited advertisements still pass, and
/// so does everything for other addresses. The IPv4 and the IPv6 block are separate tables.
pub fn block_announcements(layout: &Layout, vip: &str, block: bool) -> Result<()> {
    let addr: std::net::IpAddr = vip
        .parse()
        .map_err(|e| crate::error::Error::Other(format!("{vip}: {e}")))?;
    let rule = format!(
        "type filter hook forward priority 0;\n    {}",
        announcement_block_rule(addr)
    );
    nft_table(
        &layout.fabric_netns,
        "bridge",
        announcement_block_table(addr),
        block.then_some(rule.as_str()),
    )
}

/// The bridge table [`block_announcements`] uses for `vip`'s address family (pure).
pub fn announcement_block_table(vip: std::net::IpAddr) -> &'static str {
    match vip {
        std::net::IpAddr::V4(_) => "pgvip_announce_block",
        std::net::IpAddr::V6(_) => "pgvip_announce_block6",
    }
}

/// The bridge rule dropping `vip`'s announcements (pure). IPv4: ARP with sender and target
/// address both `vip` (gratuitous ARP). IPv6: ICMPv6 neighbour advertisements (type 136) whose
/// target is `vip` and whose solicited flag (bit 33 of the ICMPv6 header) is clear; the target
/// sits at bits 64..192 (nft 1.0.6 has no `icmpv6 taddr`).
pub fn announcement_block_rule(vip: std::net::IpAddr) -> String {
    match vip {
        std::net::IpAddr::V4(v4) => {
            format!("ether type arp arp saddr ip {v4} arp daddr ip {v4} drop")
        }
        std::net::IpAddr::V6(v6) => format!(
            "ether type ip6 icmpv6 type nd-neighbor-advert @th,33,1 0 @th,64,128 {:#034x} drop",
            u128::from(v6)
        ),
    }
}

/// Runs a command inside a namespace (re-export for callers of this module).
pub use cmd::run_in;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_blocks_match_only_gratuitous_frames_for_the_vip() {
        let v4: std::net::IpAddr = "10.0.10.200".parse().unwrap();
        assert_eq!(
            announcement_block_rule(v4),
            "ether type arp arp saddr ip 10.0.10.200 arp daddr ip 10.0.10.200 drop"
        );
        let v6: std::net::IpAddr = "fd00:10::200".parse().unwrap();
        let r = announcement_block_rule(v6);
        // Type 136 only, unsolicited only (S clear), target = the VIP as 128 bits.
        assert!(
            r.starts_with("ether type ip6 icmpv6 type nd-neighbor-advert "),
            "{r}"
        );
        assert!(r.contains(" @th,33,1 0 "), "{r}");
        assert!(
            r.ends_with(" @th,64,128 0xfd000010000000000000000000000200 drop"),
            "{r}"
        );
        assert_ne!(announcement_block_table(v4), announcement_block_table(v6));
    }
}
