//! The AWS front over the shared fabric in real network namespaces (root only): VIP
//! traffic reaches only the ENI that the simulated EC2 says owns the address. Reproduces
//! the seed bug (address configured on the new node, EC2 still naming the old ENI: nobody
//! answers) and shows that a signed `AssignPrivateIpAddresses` with `AllowReassignment`,
//! once the remap completes, plus gratuitous ARP, is what makes the new node reachable.
//! `UnassignPrivateIpAddresses` then makes the VIP unreachable everywhere.
//!
//! Topology: `common/netns.rs` (ports `pa`, `pb` are the ENIs of n1, n2 in
//! `AwsInventory::example`).

mod common;

use std::time::Duration;

use common::aws::*;
use common::netns::*;
use pgvip_cloudsim::aws::inventory::example_eni;
use pgvip_cloudsim::aws::AwsSimHandle;
use pgvip_cloudsim::fabric::{self, FabricConfig, FabricMode};

async fn start(tb: &Testbed) -> AwsSimHandle {
    let fab = tb.fab.clone();
    start_aws(move |cfg| {
        cfg.remap_delay = Duration::from_millis(300);
        cfg.fabric = Some(FabricConfig {
            netns: fab,
            bridge: "br0".into(),
            mode: FabricMode::MacSticky,
            propagation_delay: Duration::from_millis(50),
        });
    })
    .await
}

async fn call(sim: &AwsSimHandle, params: &[(&str, &str)]) -> Answer {
    let c = https_client(sim.ca_pem());
    ec2(
        &c,
        sim.ec2_url(),
        &PGVIP,
        sim.region(),
        params,
        Bend::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_reaches_only_the_eni_ec2_names() {
    if !can_run() {
        return;
    }
    let tb = testbed();
    let sim = start(&tb).await;
    let (n1, n2) = (example_eni(1), example_eni(2));
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
    .contains(VIP));
    assert_eq!(who_answers(&tb, "10.0.10.11").as_deref(), Some("A"));
    assert_eq!(who_answers(&tb, "10.0.10.12").as_deref(), Some("B"));

    // EC2 says n1 holds the VIP; A configures it: the client reaches A.
    add_vip_and_garp(&tb.a);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("A"));

    // The seed bug: the address moves at the OS level only. Nobody answers.
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
        "B reached without the EC2 move"
    );
    must(&["ip", "-n", &tb.cl, "neigh", "flush", "all"]);
    assert_eq!(
        who_answers(&tb, VIP),
        None,
        "B reached without the EC2 move (fresh ARP)"
    );
    assert_eq!(
        sim.owner(VIP.parse().unwrap()).as_deref(),
        Some(n1.as_str())
    );

    // Without AllowReassignment EC2 refuses; nothing changes.
    let a = call(
        &sim,
        &[
            ("Action", "AssignPrivateIpAddresses"),
            ("NetworkInterfaceId", &n2),
            ("PrivateIpAddress.1", VIP),
        ],
    )
    .await;
    assert_eq!(a.outcome(), (400, Some("InvalidIPAddress.InUse".into())));
    assert_eq!(who_answers(&tb, VIP), None);

    // The fix: reassign through EC2, wait for the remap, announce.
    let a = call(
        &sim,
        &[
            ("Action", "AssignPrivateIpAddresses"),
            ("NetworkInterfaceId", &n2),
            ("PrivateIpAddress.1", VIP),
            ("AllowReassignment", "true"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        sim.wait_fabric_synced(Duration::from_secs(10)).await,
        "fabric did not sync"
    );
    assert_eq!(sim.fabric_status().error, None);
    garp(&tb.b);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));

    // A stale claim from A does not pull the VIP back.
    add_vip_and_garp(&tb.a);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));
    must(&["ip", "-n", &tb.cl, "neigh", "flush", "all"]);
    assert_eq!(who_answers(&tb, VIP).as_deref(), Some("B"));

    // Unassigned: delivered nowhere, whoever claims it.
    let a = call(
        &sim,
        &[
            ("Action", "UnassignPrivateIpAddresses"),
            ("NetworkInterfaceId", &n2),
            ("PrivateIpAddress.1", VIP),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(sim.wait_fabric_synced(Duration::from_secs(10)).await);
    must(&["ip", "-n", &tb.cl, "neigh", "flush", "all"]);
    assert_eq!(who_answers(&tb, VIP), None);

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
