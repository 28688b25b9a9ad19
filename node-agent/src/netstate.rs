//! A snapshot of the node's links and addresses as plain values, and the pure decisions made
//! over it: which addresses carry pgvip's mark, and which interface a VIP belongs on.
//!
//! Data flow: `netlink::Netlink::snapshot()` fills a [`NetState`]; the planner reads it;
//! nothing here performs I/O.

use std::net::IpAddr;

use crate::error::Error;

/// Address protocol (`IFA_PROTO`) that marks an address as pgvip's ("p" = 0x70).
pub const PGVIP_ADDR_PROTO: u8 = 0x70;

/// Suffix of the IPv4 address label pgvip sets (`<ifname>:pgvip`).
pub const LABEL_SUFFIX: &str = ":pgvip";

/// Longest IPv4 address label the kernel stores (IFNAMSIZ - 1).
pub const MAX_LABEL_LEN: usize = 15;

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Ethernet address, when the link has a 6-byte one.
    pub mac: Option<[u8; 6]>,
}

/// One address configured on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// Index of the interface it is on.
    pub index: u32,
    /// The local address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// `IFA_PROTO`, when the kernel reported one.
    pub protocol: Option<u8>,
    /// `IFA_LABEL` (IPv4 only).
    pub label: Option<String>,
}

impl IfAddr {
    /// True when the address carries pgvip's mark: protocol 0x70 and a host prefix. Only such
    /// addresses are ever deleted.
    pub fn is_owned(&self) -> bool {
        self.protocol == Some(PGVIP_ADDR_PROTO) && self.prefix_len == host_prefix(self.address)
    }
}

/// The node's links and addresses at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetState {
    /// All links.
    pub links: Vec<Link>,
    /// All addresses of all families.
    pub addrs: Vec<IfAddr>,
}

impl NetState {
    /// The pgvip-owned addresses.
    pub fn owned(&self) -> impl Iterator<Item = &IfAddr> {
        self.addrs.iter().filter(|a| a.is_owned())
    }

    /// The link with this index.
    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    /// True when `address` is configured anywhere on the node, owned or not.
    pub fn has_address(&self, address: IpAddr) -> bool {
        self.addrs.iter().any(|a| a.address == address)
    }
}

/// Prefix length of a host address: 32 for IPv4, 128 for IPv6.
pub fn host_prefix(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// The IPv4 label pgvip puts on its addresses, `<ifname>:pgvip`, or `None` when it would not
/// fit in 15 bytes (the protocol mark alone then identifies the address).
pub fn owned_label(ifname: &str) -> Option<String> {
    let label = format!("{ifname}{LABEL_SUFFIX}");
    (label.len() <= MAX_LABEL_LEN).then_some(label)
}

pub use pgvip_api::agent::in_subnet;

/// The interface the VIP belongs on: the one `wanted` names, or else the one with the most
/// specific connected subnet (a non-host, non-pgvip address) containing `vip`; ties go to
/// the lowest interface index so every run picks the same one.
pub fn choose_interface<'a>(
    state: &'a NetState,
    vip: IpAddr,
    wanted: Option<&str>,
) -> Result<&'a Link, Error> {
    if let Some(name) = wanted {
        return state
            .links
            .iter()
            .find(|l| l.name == name)
            .ok_or_else(|| Error::InterfaceNotFound(name.to_string()));
    }
    state
        .addrs
        .iter()
        .filter(|a| !a.is_owned() && a.prefix_len < host_prefix(a.address))
        .filter(|a| in_subnet(a.address, a.prefix_len, vip))
        .filter_map(|a| state.link(a.index).map(|l| (a.prefix_len, l)))
        .max_by(|(pa, la), (pb, lb)| pa.cmp(pb).then(lb.index.cmp(&la.index)))
        .map(|(_, l)| l)
        .ok_or(Error::NoInterface(vip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{addr, link};

    #[test]
    fn ownership_needs_the_protocol_mark_and_a_host_prefix() {
        let cases = [
            (addr(2, "10.0.1.100", 32, Some(0x70)), true),
            (addr(2, "fd00::64", 128, Some(0x70)), true),
            (addr(2, "10.0.1.100", 32, None), false),
            (addr(2, "10.0.1.100", 32, Some(3)), false),
            (addr(2, "10.0.1.100", 24, Some(0x70)), false),
            (addr(2, "fd00::64", 64, Some(0x70)), false),
        ];
        for (a, owned) in cases {
            assert_eq!(a.is_owned(), owned, "{a:?}");
        }
    }

    #[test]
    fn label_only_when_it_fits() {
        assert_eq!(owned_label("eth0").as_deref(), Some("eth0:pgvip"));
        assert_eq!(owned_label("ens300f0").as_deref(), Some("ens300f0:pgvip"));
        assert_eq!(owned_label("enp0s31f6").as_deref(), Some("enp0s31f6:pgvip"));
        assert_eq!(owned_label("enp0s31f6x"), None);
        assert_eq!(owned_label("abcdefghijklmno"), None);
    }

    #[test]
    fn chooses_the_interface_of_the_connected_subnet() {
        let state = NetState {
            links: vec![
                link(1, "lo"),
                link(2, "eth0"),
                link(3, "eth1"),
                link(4, "eth2"),
            ],
            addrs: vec![
                addr(1, "127.0.0.1", 8, None),
                addr(2, "10.0.0.5", 16, None),
                addr(3, "10.0.1.5", 24, None),
                addr(4, "10.0.1.6", 24, None),
                // A pgvip host address never defines a connected subnet.
                addr(2, "10.0.9.100", 32, Some(0x70)),
                addr(3, "fd00::5", 64, None),
            ],
        };
        let pick = |vip: &str, wanted: Option<&str>| {
            choose_interface(&state, vip.parse().unwrap(), wanted).map(|l| l.name.clone())
        };
        // Most specific subnet wins; a tie goes to the lowest index.
        assert_eq!(pick("10.0.1.100", None).unwrap(), "eth1");
        assert_eq!(pick("10.0.7.1", None).unwrap(), "eth0");
        assert_eq!(pick("10.0.9.100", None).unwrap(), "eth0");
        assert_eq!(pick("fd00::64", None).unwrap(), "eth1");
        assert!(matches!(
            pick("192.0.2.1", None),
            Err(Error::NoInterface(_))
        ));
        // An explicit interface wins over subnets and must exist.
        assert_eq!(pick("10.0.1.100", Some("eth2")).unwrap(), "eth2");
        assert!(matches!(
            pick("10.0.1.100", Some("bond0")),
            Err(Error::InterfaceNotFound(_))
        ));
    }
}
