//! The fabric in real network namespaces (root only): reproduces pgvip's seed bug — a
//! node that configures the VIP at the OS level without the cloud moving the private IP
//! is NOT reachable through it — and shows the cloud move (a signed UpdatePrivateIp)
//! plus gratuitous ARP is what makes it reachable. Also checks assignment-routed mode.
//!
//! Topology (see `common/netns.rs`; names `csimt-<pid>-<n>-*`):
//! `fab` holds bridge `br0` with ports `pa`, `pb` (VNICs of n1, n2) and `pcl` (client);
//! `a`, `b`, `cl` each have `eth0` in 10.0.10.0/24. Nothing touches the root namespace.

mod common;

use std::time::Duration;

use common::netns::*;
use common::*;
use pgvip_cloudsim::fabric::{self, FabricConfig, FabricMode};
use pgvip_cloudsim::state::Assignment;
use reqwest::Method;

async fn move_vip_to(sim: &pgvip_cloudsim::SimHandle, vnic: &str) {
    let c = client(sim);
    let s = api_signer(&inventory(), USER);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    let (st, _, _, body) = parts(
        send(
            &c,
            &s,
            Method::PUT,
            &url,
            Some(&format!("{{\"vnicId\":\"{vnic}\"}}")),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert!(
        sim.wait_fabric_synced(Duration::from_secs(10)).await,
        "fabric did not sync"
    );
    assert_eq!(sim.fabric_status().error, None);
}

async fn start_sim(
    tb: &Testbed,
    mode: FabricMode,
) -> (pgvip_cloudsim::SimHandle, tempfile::TempDir) {
    let fab = tb.fab.clone();
    start_with(move |cfg| {
        cfg.fabric = Some(FabricConfig {
            netns: fab,
            bridge: "br0".into(),
            mode,
            propagation_delay: Duration::from_millis(200),
        });
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_bug_os_level_address_alone_does_not_reach_the_new_node() {
    if !can_run() {
        return;
    }
    let tb = testbed();
    // The IPv6 rules are valid nft syntax in a real bridge table.
    let v6 = [Assignment {
        ip: "fd00:10::200".parse().unwrap(),
        vnic_id: Some("v".into()),
        port: Some("pb".into()),
        mac: Some("02:00:17:00:00:02".into()),
    }];
    fabric::apply(
        &tb.fab,
        &fabric::ruleset("br0", FabricMode::AssignmentRouted, &v6),
    )
    .await
    .unwrap();

    let (sim, _dir) = start_sim(&tb, FabricMode::MacSticky).await;
    assert!(must(&[
        "ip",
        "netns",
        "exec",
        &tb.fab,
        "nft",
        "list",
        "table",
        "bridge",
        fabric::TABLE
    ])
    .contains("10.0.10.200"));

    // The network works: the client reaches both nodes by their primary IPs.
    assert_eq!(who_answers(&tb, "10.0.10.11").as_deref(), Some("A"));
    assert_eq!(who_answers(&tb, "10.0.10.12").as_deref(), Some("B"));

    // Baseline: the VIP sits on n1 in the cloud and on A's interface: the client reaches A.
    add_vip_and_garp(&tb.a);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("A"));

    // The seed bug: the address moves at the OS level only (A drops it, B adds it and
    // announces it), the private IP stays on n1's VNIC. Nobody answers through the VIP.
    must(&[
        "ip",
        "-n",
        &tb.a,
        "addr",
        "del",
        &format!("{VIP}/32"),
        "dev",
        "eth0",
    ]);
    add_vip_and_garp(&tb.b);
    assert_eq!(
        who_answers(&tb, VIP),
        None,
        "B was reached without the cloud move"
    );
    must(&["ip", "-n", &tb.cl, "neigh", "flush", "all"]);
    assert_eq!(
        who_answers(&tb, VIP),
        None,
        "B was reached without the cloud move (fresh ARP)"
    );
    assert_eq!(sim.assignment(VIP.parse().unwrap()).as_deref(), Some(N1));

    // The fix: move the private IP to n2's VNIC through the API, then announce.
    move_vip_to(&sim, N2).await;
    garp(&tb.b);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));

    // A stale claim from A (address + gratuitous ARP) does not pull the VIP back.
    add_vip_and_garp(&tb.a);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));
    must(&["ip", "-n", &tb.cl, "neigh", "flush", "all"]);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));

    let fab = tb.fab.clone();
    sim.shutdown().await;
    assert!(
        sh(&[
            "ip",
            "netns",
            "exec",
            &fab,
            "nft",
            "list",
            "table",
            "bridge",
            fabric::TABLE
        ])
        .is_err(),
        "table left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_sticky_stalls_until_garp_assignment_routed_does_not() {
    if !can_run() {
        return;
    }
    for mode in [FabricMode::MacSticky, FabricMode::AssignmentRouted] {
        let tb = testbed();
        let (sim, _dir) = start_sim(&tb, mode).await;
        // Both nodes claim the VIP at the OS level; the cloud says n1.
        add_vip_and_garp(&tb.a);
        add_vip_and_garp(&tb.b);
        assert_eq!(who_answers(&tb, VIP).as_deref(), Some("A"), "{mode:?}");
        // Cloud move to n2 with no announcement: the client's ARP cache still names A.
        move_vip_to(&sim, N2).await;
        let got = who_answers(&tb, VIP);
        match mode {
            FabricMode::MacSticky => {
                assert_eq!(got, None, "stale ARP cache must stall in mac-sticky mode");
                garp(&tb.b);
                assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));
            }
            FabricMode::AssignmentRouted => assert_eq!(got.as_deref(), Some("B")),
        }
        sim.shutdown().await;
    }
}
