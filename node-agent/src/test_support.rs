//! Fixtures shared by the unit tests: links and addresses as a netlink dump would report
//! them, built from short literals so that a test's table reads like `ip addr` output.

use crate::netstate::{IfAddr, Link};

/// An Ethernet link with index `index`, named `name`, with MAC `02:00:00:00:00:<index>`.
pub fn link(index: u32, name: &str) -> Link {
    Link {
        index,
        name: name.into(),
        mac: Some([2, 0, 0, 0, 0, index as u8]),
    }
}

/// The address `a/p` on link `index`, with address protocol `proto` and no label.
pub fn addr(index: u32, a: &str, p: u8, proto: Option<u8>) -> IfAddr {
    IfAddr {
        index,
        address: a.parse().unwrap(),
        prefix_len: p,
        protocol: proto,
        label: None,
    }
}

/// A pgvip-owned host address on link `index`: /32 or /128 with protocol 0x70 (spelled out
/// rather than taken from `netstate`, so a changed mark shows up as failing tests).
pub fn owned(index: u32, a: &str) -> IfAddr {
    let p = if a.contains(':') { 128 } else { 32 };
    addr(index, a, p, Some(0x70))
}
