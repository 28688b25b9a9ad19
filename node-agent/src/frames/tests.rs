use super::*;

const MAC: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];

#[test]
fn garp_request_bytes() {
    let f = garp_request(MAC, Ipv4Addr::new(10, 0, 1, 100));
    #[rustfmt::skip]
    let want: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   // dst: broadcast
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02,   // src: interface MAC
        0x08, 0x06,                           // ARP
        0x00, 0x01, 0x08, 0x00, 6, 4,         // Ethernet/IPv4, hlen 6, plen 4
        0x00, 0x01,                           // request
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02,   // sha
        10, 0, 1, 100,                        // spa = VIP
        0, 0, 0, 0, 0, 0,                     // tha zero
        10, 0, 1, 100,                        // tpa = VIP
    ];
    assert_eq!(f.bytes, want);
    assert_eq!(f.dst, BROADCAST);
    assert_eq!(f.ethertype, ETH_P_ARP);
    assert_eq!(f.kind, FrameKind::GarpRequest);
}

#[test]
fn garp_reply_bytes() {
    let f = garp_reply(MAC, Ipv4Addr::new(192, 168, 7, 1));
    #[rustfmt::skip]
    let want: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 6, 4,
        0x00, 0x02,                           // reply
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
        192, 168, 7, 1,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   // tha broadcast
        192, 168, 7, 1,
    ];
    assert_eq!(f.bytes, want);
    assert_eq!(f.kind, FrameKind::GarpReply);
}

#[test]
fn unsolicited_na_bytes() {
    let f = unsolicited_na(MAC, "fd00::64".parse().unwrap());
    #[rustfmt::skip]
    let want: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01,   // dst: all-nodes multicast MAC
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
        0x86, 0xdd,                           // IPv6
        0x60, 0x00, 0x00, 0x00,               // version 6
        0x00, 32,                             // payload length
        58, 255,                              // ICMPv6, hop limit 255
        0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64,   // src = VIP
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,   // dst = ff02::1
        136, 0,                               // neighbour advertisement
        0xad, 0x80,                           // checksum (computed independently)
        0x20, 0, 0, 0,                        // override only
        0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x64,   // target = VIP
        2, 1,                                 // target link-layer address option
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
    ];
    assert_eq!(f.bytes, want);
    assert_eq!(f.dst, ALL_NODES_MAC);
    assert_eq!(f.ethertype, ETH_P_IPV6);
}

#[test]
fn na_checksum_verifies_for_other_inputs() {
    // A receiver sums pseudo-header + message including the checksum and must get 0xffff.
    for (mac, ip) in [
        ([0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff], "2001:db8:1:2::abcd"),
        ([0xff; 6], "fd12:3456:789a::1"),
    ] {
        let ip: Ipv6Addr = ip.parse().unwrap();
        let f = unsolicited_na(mac, ip);
        let icmp = &f.bytes[54..];
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&ip.octets());
        pseudo.extend_from_slice(&ALL_NODES.octets());
        pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 58]);
        pseudo.extend_from_slice(icmp);
        assert_eq!(ones_complement_sum(&pseudo), 0xffff, "{ip}");
    }
}

#[test]
fn one_round_per_family() {
    let v4 = announcement(MAC, "10.0.1.100".parse().unwrap());
    let kinds: Vec<_> = v4.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FrameKind::GarpRequest, FrameKind::GarpReply]);
    let v6 = announcement(MAC, "fd00::64".parse().unwrap());
    let kinds: Vec<_> = v6.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [FrameKind::UnsolicitedNa]);
}

#[test]
fn checksum_of_odd_length_pads_with_zero() {
    assert_eq!(ones_complement_sum(&[0x01]), 0x0100);
    assert_eq!(ones_complement_sum(&[0xff, 0xff, 0x00, 0x02]), 0x0002);
}
