//! Netlink operations against a real kernel, each test in a fresh network namespace with a
//! veth link. Run as root: `cargo test -p pgvip-node-agent --test netlink`.

mod common;

use std::net::IpAddr;

use common::{add_foreign, add_owned, find, flags_of, in_netns, test_link};
use futures::TryStreamExt;
use pgvip_node_agent::netlink::{AddOutcome, DelOutcome, Netlink};
use pgvip_node_agent::netstate::PGVIP_ADDR_PROTO;
use rtnetlink::packet_route::route::{RouteAttribute, RouteMessage};
use rtnetlink::RouteMessageBuilder;

const IFA_F_NODAD: u32 = 0x02;
const IFA_F_TENTATIVE: u32 = 0x40;
const IFA_F_NOPREFIXROUTE: u32 = 0x200;

/// Destinations of the main routing table's routes of both families.
async fn main_table_routes(net: &Netlink) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    for msg in [
        RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
        RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
    ] {
        let routes: Vec<RouteMessage> = net
            .handle()
            .route()
            .get(msg)
            .execute()
            .try_collect()
            .await
            .unwrap();
        for r in routes.iter().filter(|r| r.header.table == 254) {
            for a in &r.attributes {
                if let RouteAttribute::Destination(d) = a {
                    let ip = match d {
                        rtnetlink::packet_route::route::RouteAddress::Inet(v4) => IpAddr::V4(*v4),
                        rtnetlink::packet_route::route::RouteAddress::Inet6(v6) => IpAddr::V6(*v6),
                        _ => continue,
                    };
                    out.push((ip, r.header.destination_prefix_length));
                }
            }
        }
    }
    out
}

#[test]
fn ipv4_add_and_remove_with_the_mark() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = test_link(&net, "eth0").await;
        let other = test_link(&net, "eth1").await;
        add_foreign(&net, &eth, "10.0.1.1", 24).await;

        assert_eq!(add_owned(&net, &eth, "10.0.1.100").await, AddOutcome::Added);
        let got = find(&net, "10.0.1.100").await;
        assert_eq!(got.len(), 1, "{got:?}");
        let a = &got[0];
        assert_eq!(
            a.index, eth.index,
            "on the requested interface, not {}",
            other.name
        );
        assert_eq!(a.prefix_len, 32);
        assert_eq!(a.protocol, Some(PGVIP_ADDR_PROTO));
        assert_eq!(a.label.as_deref(), Some("eth0:pgvip"));
        assert!(a.is_owned());
        assert_ne!(flags_of(&net, "10.0.1.100").await & IFA_F_NOPREFIXROUTE, 0);
        let routes = main_table_routes(&net).await;
        assert!(
            !routes.contains(&("10.0.1.100".parse().unwrap(), 32)),
            "no prefix route for the VIP: {routes:?}"
        );

        // EEXIST on a second add is success.
        assert_eq!(
            add_owned(&net, &eth, "10.0.1.100").await,
            AddOutcome::AlreadyPresent
        );
        assert_eq!(net.delete_owned(a).await.unwrap(), DelOutcome::Deleted);
        assert!(find(&net, "10.0.1.100").await.is_empty());
        // EADDRNOTAVAIL on a second delete is success.
        assert_eq!(net.delete_owned(a).await.unwrap(), DelOutcome::AlreadyGone);
        assert_eq!(
            find(&net, "10.0.1.1").await.len(),
            1,
            "the subnet address stays"
        );
    })
}

#[test]
fn long_interface_names_get_no_label_but_keep_the_protocol_mark() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = test_link(&net, "enp0s31f6xyz").await;
        add_owned(&net, &eth, "10.0.1.100").await;
        let a = &find(&net, "10.0.1.100").await[0];
        assert_eq!(a.protocol, Some(PGVIP_ADDR_PROTO));
        // The kernel fills in the interface name as the default label.
        assert_eq!(a.label.as_deref(), Some("enp0s31f6xyz"));
        assert!(a.is_owned());
        assert_eq!(net.delete_owned(a).await.unwrap(), DelOutcome::Deleted);
    })
}

#[test]
fn foreign_addresses_are_never_touched() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = test_link(&net, "eth0").await;
        add_foreign(&net, &eth, "10.0.1.1", 24).await;
        // Same IP as the VIP, added by hand with another prefix; another host address.
        add_foreign(&net, &eth, "10.0.1.100", 24).await;
        add_foreign(&net, &eth, "10.0.1.50", 32).await;
        // A by-hand /32 copy of a second VIP: our add sees EEXIST and leaves it as it is.
        add_foreign(&net, &eth, "10.0.1.101", 32).await;

        assert_eq!(add_owned(&net, &eth, "10.0.1.100").await, AddOutcome::Added);
        assert_eq!(
            add_owned(&net, &eth, "10.0.1.101").await,
            AddOutcome::AlreadyPresent
        );
        let foreign_101 = find(&net, "10.0.1.101").await;
        assert_eq!(foreign_101.len(), 1);
        assert!(
            !foreign_101[0].is_owned(),
            "EEXIST did not mark the foreign address"
        );

        // Direct deletes of unmarked addresses are refused without asking the kernel.
        for a in net
            .addresses()
            .await
            .unwrap()
            .iter()
            .filter(|a| !a.is_owned())
        {
            assert_eq!(
                net.delete_owned(a).await.unwrap(),
                DelOutcome::NotOwned,
                "{a:?}"
            );
        }
        // Teardown over everything removes only the owned /32 of 10.0.1.100.
        let all = net.addresses().await.unwrap();
        assert!(net.delete_all_owned(&all).await.is_empty());
        let mut left: Vec<(String, u8)> = net
            .addresses()
            .await
            .unwrap()
            .iter()
            .filter(|a| a.index == eth.index && a.address.is_ipv4())
            .map(|a| (a.address.to_string(), a.prefix_len))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ("10.0.1.1".to_string(), 24),
                ("10.0.1.100".to_string(), 24),
                ("10.0.1.101".to_string(), 32),
                ("10.0.1.50".to_string(), 32),
            ]
        );
    })
}

#[test]
fn teardown_removes_every_owned_address_past_stale_entries() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = test_link(&net, "eth0").await;
        for ip in ["10.0.1.100", "10.0.1.101", "fd00::64"] {
            add_owned(&net, &eth, ip).await;
        }
        let mut all = net.addresses().await.unwrap();
        // Stale entries first (the link vanished, the address was already deleted): each is
        // "already gone", and teardown goes on to remove the rest.
        let mut vanished_link = all.iter().find(|a| a.is_owned()).unwrap().clone();
        vanished_link.index = 9999;
        let mut already_deleted = vanished_link.clone();
        already_deleted.index = eth.index;
        already_deleted.address = "10.0.1.200".parse().unwrap();
        already_deleted.label = Some("eth0:pgvip".into());
        all.insert(0, vanished_link);
        all.insert(0, already_deleted);
        let errors = net.delete_all_owned(&all).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert!(net.addresses().await.unwrap().iter().all(|a| !a.is_owned()));
    })
}

#[test]
fn ipv6_host_address_skips_dad_and_is_removed() {
    in_netns(|| async {
        let net = Netlink::connect().unwrap();
        let eth = test_link(&net, "eth0").await;
        add_foreign(&net, &eth, "fd00::1", 64).await;
        add_foreign(&net, &eth, "fd00::65", 128).await;

        assert_eq!(add_owned(&net, &eth, "fd00::64").await, AddOutcome::Added);
        let a = &find(&net, "fd00::64").await[0];
        assert_eq!(a.index, eth.index);
        assert_eq!(a.prefix_len, 128);
        assert_eq!(a.protocol, Some(PGVIP_ADDR_PROTO));
        assert_eq!(a.label, None);
        let flags = flags_of(&net, "fd00::64").await;
        assert_ne!(flags & IFA_F_NODAD, 0, "nodad set");
        assert_eq!(flags & IFA_F_TENTATIVE, 0, "usable at once");
        let routes = main_table_routes(&net).await;
        assert!(
            !routes.contains(&("fd00::64".parse().unwrap(), 128)),
            "{routes:?}"
        );

        assert_eq!(
            add_owned(&net, &eth, "fd00::64").await,
            AddOutcome::AlreadyPresent
        );
        assert_eq!(net.delete_owned(a).await.unwrap(), DelOutcome::Deleted);
        assert_eq!(net.delete_owned(a).await.unwrap(), DelOutcome::AlreadyGone);
        assert!(find(&net, "fd00::64").await.is_empty());
        assert_eq!(
            find(&net, "fd00::65").await.len(),
            1,
            "foreign /128 untouched"
        );
    })
}
