//! Announcements on the wire: a veth pair between two fresh network namespaces, the agent on
//! one end, an AF_PACKET capture on the other. Run as root:
//! `cargo test -p pgvip-node-agent --test garp`.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use common::{add_foreign, link, new_agent, relisted, set_up, vip, NODE};
use nix::sched::{unshare, CloneFlags};
use pgvip_node_agent::frames::{garp_reply, garp_request, unsolicited_na, ETH_P_ARP, ETH_P_IPV6};
use pgvip_node_agent::netlink::Netlink;
use pgvip_node_agent::rawsock::PacketSocket;
use rtnetlink::{LinkUnspec, LinkVeth};

const AT: &str = "2025-05-01T10:00:00.000Z";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The capture side: a fresh namespace that receives `vb` and records every frame on it.
fn capture_side(
    ns_tx: std_mpsc::Sender<File>,
    go: std_mpsc::Receiver<()>,
    ready: std_mpsc::Sender<()>,
) -> Vec<Vec<u8>> {
    unshare(CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
    ns_tx
        .send(File::open("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    go.recv().unwrap();
    let rt = runtime();
    let vb = rt.block_on(async {
        let net = Netlink::connect().unwrap();
        let vb = link(&net, "vb").await;
        set_up(&net, &vb).await;
        vb
    });
    let cap = PacketSocket::capture(vb.index, Duration::from_millis(100)).unwrap();
    ready.send(()).unwrap();
    let mut frames = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        if let Ok(n) = cap.recv_frame(&mut buf) {
            frames.push(buf[..n].to_vec());
        }
    }
    frames
}

#[test]
fn announcements_reach_the_peer_with_the_right_sender() {
    let (ns_tx, ns_rx) = std_mpsc::channel();
    let (go_tx, go_rx) = std_mpsc::channel();
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let capture = std::thread::spawn(move || capture_side(ns_tx, go_rx, ready_tx));

    let agent_side = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare: run as root");
        let peer_ns = ns_rx.recv().unwrap();
        runtime().block_on(async move {
            let net = Netlink::connect().unwrap();
            net.handle()
                .link()
                .add(LinkVeth::new("va", "vb").up().build())
                .execute()
                .await
                .unwrap();
            let vb = link(&net, "vb").await;
            net.handle()
                .link()
                .set(
                    LinkUnspec::new_with_index(vb.index)
                        .setns_by_fd(peer_ns.as_raw_fd())
                        .build(),
                )
                .execute()
                .await
                .unwrap();
            let va = link(&net, "va").await;
            add_foreign(&net, &va, "10.0.1.1", 24).await;
            add_foreign(&net, &va, "fd00::1", 64).await;
            go_tx.send(()).unwrap();
            ready_rx.recv().unwrap();

            let (mut agent, _reports, _) =
                new_agent(Duration::from_secs(30), Duration::from_secs(30), false);
            let mut v4 = vip("v4", "10.0.1.100", Some(NODE), Some(NODE), Some(AT));
            v4.garp_count = 3;
            v4.garp_interval = Duration::from_millis(50);
            let mut v6 = vip("v6", "fd00::64", Some(NODE), Some(NODE), Some(AT));
            v6.garp_count = 2;
            v6.garp_interval = Duration::from_millis(50);
            agent.handle(relisted(vec![v4, v6])).await;
            // Let the spawned rounds run.
            tokio::time::sleep(Duration::from_millis(400)).await;
            va.mac.unwrap()
        })
    });
    let mac = agent_side.join().unwrap();
    let frames = capture.join().unwrap();

    let v4 = "10.0.1.100".parse().unwrap();
    let ethertype = |f: &[u8]| u16::from_be_bytes([f[12], f[13]]);
    let arp: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| ethertype(f) == ETH_P_ARP)
        .collect();
    let requests = arp
        .iter()
        .filter(|f| **f == &garp_request(mac, v4).bytes)
        .count();
    let replies = arp
        .iter()
        .filter(|f| **f == &garp_reply(mac, v4).bytes)
        .count();
    assert_eq!(
        (requests, replies),
        (3, 3),
        "garpCount rounds of both forms: {arp:?}"
    );
    for f in &arp {
        assert_eq!(&f[6..12], &mac, "source MAC");
        assert_eq!(&f[22..28], &mac, "sender MAC");
        assert_eq!(&f[28..32], &[10, 0, 1, 100], "sender IP");
    }
    let na = unsolicited_na(mac, "fd00::64".parse().unwrap()).bytes;
    let nas = frames
        .iter()
        .filter(|f| ethertype(f) == ETH_P_IPV6 && f.len() > 54 && f[54] == 136)
        .collect::<Vec<_>>();
    assert_eq!(nas.len(), 2, "{nas:?}");
    assert!(nas.iter().all(|f| **f == na));
}
