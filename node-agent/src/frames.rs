//! Gratuitous ARP and unsolicited neighbour advertisement frames, built as bytes by pure
//! functions so their exact layout is unit-tested. `announce` sends them; nothing here does I/O.
//!
//! One announcement round for an IPv4 VIP is two frames (the request form and the reply form
//! of gratuitous ARP, since neighbours differ in which one they honour); for IPv6 it is one
//! unsolicited NA with the override flag, to all-nodes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Ethernet broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];
/// Ethernet address of the IPv6 all-nodes group ff02::1.
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// The IPv6 all-nodes multicast address.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Which kind of announcement a frame is (metric label and test helper).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Gratuitous ARP, request form.
    GarpRequest,
    /// Gratuitous ARP, reply form.
    GarpReply,
    /// IPv6 unsolicited neighbour advertisement.
    UnsolicitedNa,
}

impl FrameKind {
    /// Fixed name for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GarpRequest => "garp_request",
            Self::GarpReply => "garp_reply",
            Self::UnsolicitedNa => "unsolicited_na",
        }
    }
}

/// A complete Ethernet frame ready for an AF_PACKET `SOCK_RAW` socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it announces.
    pub kind: FrameKind,
    /// Destination MAC (also the first 6 bytes of `bytes`).
    pub dst: [u8; 6],
    /// EtherType (also bytes 12..14).
    pub ethertype: u16,
    /// The frame, Ethernet header included, no FCS.
    pub bytes: Vec<u8>,
}

/// The frames of one announcement round for `ip` from `mac`.
pub fn announcement(mac: [u8; 6], ip: IpAddr) -> Vec<Frame> {
    match ip {
        IpAddr::V4(ip) => vec![garp_request(mac, ip), garp_reply(mac, ip)],
        IpAddr::V6(ip) => vec![unsolicited_na(mac, ip)],
    }
}

/// Gratuitous ARP request: broadcast, oper 1, spa = tpa = VIP, tha zero (RFC 5227 §3).
pub fn garp_request(mac: [u8; 6], ip: Ipv4Addr) -> Frame {
    arp_frame(FrameKind::GarpRequest, 1, mac, ip, [0; 6])
}

/// Gratuitous ARP reply: broadcast, oper 2, spa = tpa = VIP, tha broadcast.
pub fn garp_reply(mac: [u8; 6], ip: Ipv4Addr) -> Frame {
    arp_frame(FrameKind::GarpReply, 2, mac, ip, BROADCAST)
}

fn ethernet_header(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(90);
    b.extend_from_slice(&dst);
    b.extend_from_slice(&src);
    b.extend_from_slice(&ethertype.to_be_bytes());
    b
}

fn arp_frame(kind: FrameKind, oper: u16, mac: [u8; 6], ip: Ipv4Addr, tha: [u8; 6]) -> Frame {
    let mut b = ethernet_header(BROADCAST, mac, ETH_P_ARP);
    b.extend_from_slice(&1u16.to_be_bytes()); // htype: Ethernet
    b.extend_from_slice(&0x0800u16.to_be_bytes()); // ptype: IPv4
    b.push(6); // hlen
    b.push(4); // plen
    b.extend_from_slice(&oper.to_be_bytes());
    b.extend_from_slice(&mac); // sha
    b.extend_from_slice(&ip.octets()); // spa
    b.extend_from_slice(&tha); // tha
    b.extend_from_slice(&ip.octets()); // tpa
    Frame {
        kind,
        dst: BROADCAST,
        ethertype: ETH_P_ARP,
        bytes: b,
    }
}

/// Unsolicited neighbour advertisement (RFC 4861 §7.2.6): from the VIP to ff02::1, hop limit
/// 255, ICMPv6 type 136 with only the override flag, target = VIP, and the target link-layer
/// address option carrying `mac`.
pub fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> Frame {
    let mut icmp = Vec::with_capacity(32);
    icmp.push(136); // type: neighbour advertisement
    icmp.push(0); // code
    icmp.extend_from_slice(&[0, 0]); // checksum, filled below
    icmp.extend_from_slice(&[0x20, 0, 0, 0]); // R=0 S=0 O=1, reserved
    icmp.extend_from_slice(&ip.octets()); // target address
    icmp.push(2); // option: target link-layer address
    icmp.push(1); // option length in units of 8 bytes
    icmp.extend_from_slice(&mac);
    let sum = icmpv6_checksum(ip, ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut b = ethernet_header(ALL_NODES_MAC, mac, ETH_P_IPV6);
    b.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
    b.extend_from_slice(&(icmp.len() as u16).to_be_bytes()); // payload length
    b.push(58); // next header: ICMPv6
    b.push(255); // hop limit (receivers drop NAs with any other value)
    b.extend_from_slice(&ip.octets());
    b.extend_from_slice(&ALL_NODES.octets());
    b.extend_from_slice(&icmp);
    Frame {
        kind: FrameKind::UnsolicitedNa,
        dst: ALL_NODES_MAC,
        ethertype: ETH_P_IPV6,
        bytes: b,
    }
}

/// ICMPv6 checksum (RFC 4443 §2.3): one's complement sum over the IPv6 pseudo-header and the
/// message with its checksum field zero.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + message.len());
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(message.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(message);
    !ones_complement_sum(&pseudo)
}

fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests;
