//! Node-agent heartbeats: the contract between the agents and the controller's
//! failover-readiness check.
//!
//! Data flow: every node-agent keeps a `coordination.k8s.io` Lease named
//! [`heartbeat_lease_name`] in its own namespace, renewed every few seconds and annotated with
//! [`INTERFACES_ANNOTATION`]: the interfaces it could put a VIP on and their connected networks.
//! The controller reads those Leases from a watch and asks, per candidate node, whether the
//! agent is alive (renewed within its duration) and would find an interface for the VIP
//! ([`pick_interface`], the same rule the agent applies when it configures the address).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Label on every heartbeat Lease (value `node-agent`), so the controller watches only these.
pub const HEARTBEAT_LABEL: &str = "pgvip.dev/heartbeat";

/// Annotation carrying the JSON list of [`AgentInterface`]s.
pub const INTERFACES_ANNOTATION: &str = "pgvip.dev/interfaces";

/// Name of the heartbeat Lease of the agent on `node`.
pub fn heartbeat_lease_name(node: &str) -> String {
    format!("pgvip-agent-{node}")
}

/// One interface an agent could configure a VIP on.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AgentInterface {
    /// Interface name.
    pub name: String,
    /// Connected networks as `address/prefix` (the node's own addresses, not VIPs).
    #[serde(default)]
    pub networks: Vec<String>,
}

/// True when `address` lies in `network/prefix_len` (same family only).
pub fn in_subnet(network: IpAddr, prefix_len: u8, address: IpAddr) -> bool {
    fn masked(bits: u128, width: u32, prefix: u32) -> u128 {
        if prefix == 0 {
            0
        } else {
            bits >> (width - prefix.min(width))
        }
    }
    match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = u32::from(prefix_len).min(32);
            masked(u32::from(n).into(), 32, p) == masked(u32::from(a).into(), 32, p)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = u32::from(prefix_len).min(128);
            masked(u128::from(n), 128, p) == masked(u128::from(a), 128, p)
        }
        _ => false,
    }
}

/// Parses `address/prefix`.
pub fn parse_network(s: &str) -> Option<(IpAddr, u8)> {
    let (a, p) = s.split_once('/')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

/// The interface a VIP belongs on: the one `wanted` names (it must exist), or else the one
/// with the most specific connected network containing `vip` (first listed wins a tie).
/// The error says what the agent would report.
pub fn pick_interface<'a>(
    ifaces: &'a [AgentInterface],
    vip: IpAddr,
    wanted: Option<&str>,
) -> Result<&'a str, String> {
    if let Some(name) = wanted {
        return ifaces
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.name.as_str())
            .ok_or_else(|| format!("interface {name} (spec.announce.interface) does not exist"));
    }
    let mut best: Option<(u8, &str)> = None;
    for i in ifaces {
        for (net, prefix) in i.networks.iter().filter_map(|n| parse_network(n)) {
            if in_subnet(net, prefix, vip) && best.is_none_or(|(p, _)| prefix > p) {
                best = Some((prefix, i.name.as_str()));
            }
        }
    }
    best.map(|(_, n)| n)
        .ok_or_else(|| format!("no interface has a network containing {vip}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, nets: &[&str]) -> AgentInterface {
        AgentInterface {
            name: name.into(),
            networks: nets.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn picks_the_most_specific_network_or_the_named_interface() {
        let ifaces = [
            iface("lo", &["127.0.0.1/8"]),
            iface("ens3", &["10.0.10.11/24"]),
            iface("ens4", &["10.0.0.5/16", "fd00::5/64"]),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases: [(&str, Option<&str>, Result<&str, &str>); 6] = [
            ("10.0.10.200", None, Ok("ens3")),
            ("10.0.20.200", None, Ok("ens4")),
            ("fd00::64", None, Ok("ens4")),
            ("192.168.1.1", None, Err("no interface")),
            ("10.0.10.200", Some("ens4"), Ok("ens4")),
            ("10.0.10.200", Some("eth9"), Err("eth9")),
        ];
        for (vip, wanted, want) in cases {
            let got = pick_interface(&ifaces, ip(vip), wanted);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{vip} {wanted:?}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{vip}: {g}"),
                (g, w) => panic!("{vip} {wanted:?}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn subnet_membership() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases = [
            ("10.0.1.0", 24, "10.0.1.100", true),
            ("10.0.1.7", 24, "10.0.1.100", true),
            ("10.0.1.0", 24, "10.0.2.100", false),
            ("0.0.0.0", 0, "192.0.2.1", true),
            ("10.0.1.100", 32, "10.0.1.101", false),
            ("fd00::1", 64, "fd00::64", true),
            ("fd00::1", 64, "10.0.1.1", false),
        ];
        for (n, p, a, want) in cases {
            assert_eq!(in_subnet(ip(n), p, ip(a)), want, "{n}/{p} {a}");
        }
    }

    #[test]
    fn networks_parse() {
        assert_eq!(
            parse_network("10.0.10.11/24"),
            Some(("10.0.10.11".parse().unwrap(), 24))
        );
        assert_eq!(parse_network("10.0.10.11"), None);
        assert_eq!(parse_network("x/24"), None);
    }
}
