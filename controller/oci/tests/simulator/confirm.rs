//! Confirming assignments from one listing of the subnet: after a takeover every VIP is
//! checked, and the simulator's call log must show one listing and one VNIC lookup per node,
//! not a call per VIP; an address that is elsewhere, unassigned or unknown is never confirmed.

use std::time::Duration;

use futures::future::join_all;
use pgvip_cloudsim::Operation;
use pgvip_oci::MoveRequest;

use crate::harness::*;

const NODES: usize = 8;
const IPS: usize = 100;
const FRESH: Duration = Duration::from_secs(30);

fn on_node(instance: &str, j: usize) -> MoveRequest {
    MoveRequest {
        ip: load_ip(j),
        subnet_id: SUBNET_A.into(),
        provider_id: format!("oci://{instance}"),
        display_name: None,
    }
}

#[tokio::test]
async fn every_vip_of_a_subnet_is_confirmed_from_one_listing() {
    let mut nodes = Vec::new();
    let env = start(|c| nodes = add_load_world(&mut c.inventory, NODES, IPS)).await;
    let client = env.user_client(USER).await;

    // Address j sits on node j % NODES: confirm all of them at once, where they are.
    let reqs: Vec<MoveRequest> = (0..IPS).map(|j| on_node(&nodes[j % NODES].0, j)).collect();
    let got = join_all(reqs.iter().map(|r| client.confirm_from_listing(r, FRESH))).await;
    for (j, r) in got.iter().enumerate() {
        let a = r.as_ref().unwrap().as_ref().expect("confirmed");
        assert_eq!(a.vnic_id, nodes[j % NODES].1);
        assert!(!a.changed && !a.created);
        assert!(a.private_ip_id.starts_with("ocid1.privateip."), "{a:?}");
    }
    let count = |op| env.calls(op).len();
    assert_eq!(
        count(Operation::ListPrivateIps),
        1,
        "one listing for the subnet"
    );
    assert_eq!(
        count(Operation::GetInstance),
        NODES,
        "one VNIC lookup per node"
    );
    assert_eq!(count(Operation::UpdatePrivateIp), 0);

    // Asked for another node, or for an address the subnet does not have: not confirmed, and
    // the listing is reused while it is fresh.
    let elsewhere = on_node(&nodes[1].0, 0);
    assert_eq!(
        client
            .confirm_from_listing(&elsewhere, FRESH)
            .await
            .unwrap(),
        None
    );
    let unknown = MoveRequest {
        ip: "10.0.10.250".parse().unwrap(),
        ..on_node(&nodes[0].0, 0)
    };
    assert_eq!(
        client.confirm_from_listing(&unknown, FRESH).await.unwrap(),
        None
    );
    assert_eq!(count(Operation::ListPrivateIps), 1);

    // A move after the listing: a listing that may not be older than zero is taken again
    // and sees it.
    client.ensure_assigned(&elsewhere).await.unwrap();
    let moved = client
        .confirm_from_listing(&elsewhere, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(moved.map(|a| a.vnic_id), Some(nodes[1].1.clone()));
}

#[tokio::test]
async fn an_address_on_another_node_is_left_to_the_move_in_both_families() {
    let env = start(|_| {}).await;
    let client = env.user_client(USER).await;
    // The example VIP sits on n1: confirming it for n2 says None, and so does IPv6 for n2.
    assert_eq!(
        client
            .confirm_from_listing(&to(VIP, I2), FRESH)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        client
            .confirm_from_listing(&to(VIP6, I2), FRESH)
            .await
            .unwrap(),
        None
    );
    // For n1 both are confirmed, from one listing per family.
    assert!(client
        .confirm_from_listing(&to(VIP, I1), FRESH)
        .await
        .unwrap()
        .is_some());
    assert!(client
        .confirm_from_listing(&to(VIP6, I1), FRESH)
        .await
        .unwrap()
        .is_some());
    assert_eq!(env.calls(Operation::ListPrivateIps).len(), 1);
    assert_eq!(env.calls(Operation::ListIpv6s).len(), 1);
    env.assert_on(VIP, VNIC1);
}
