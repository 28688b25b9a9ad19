//! `check_update_permission`: proves the principal may update a private IP without changing
//! its assignment, for principals with and without the update grant, and never undoes a move
//! that happens while it runs.

use std::time::Duration;

use pgvip_cloudsim::Operation;
use pgvip_oci::OciClient;

use crate::harness::*;

#[tokio::test]
async fn granted_principal_passes_without_moving_anything() {
    let (env, client) = start_as(USER).await;
    let generation = env.sim.fabric_status().generation;
    client.check_update_permission(VIP_ID).await.unwrap();
    client.check_update_permission(VIP6_ID).await.unwrap();
    let upd = env.calls(Operation::UpdatePrivateIp);
    assert_eq!((upd.len(), upd[0].status), (1, 200));
    assert_eq!(env.calls(Operation::UpdateIpv6)[0].status, 200);
    env.assert_on(VIP, VNIC1);
    env.assert_on(VIP6, VNIC1);
    // No assignment change reached the fabric.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(env.sim.fabric_status().generation, generation);
    // And a real move afterwards still works (the etag was not disturbed).
    client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    env.assert_on(VIP, VNIC2);
}

#[tokio::test]
async fn principal_without_the_grant_gets_the_statement_to_add() {
    let (env, client) = start_as(USER_READ_ONLY).await;
    for (id, op, resource) in [
        (VIP_ID, "UpdatePrivateIp", "use private-ips"),
        (VIP6_ID, "UpdateIpv6", "use ipv6s"),
    ] {
        let e = client.check_update_permission(id).await.unwrap_err();
        let (operation, _, policy) = permission(&e);
        assert_eq!(operation, op);
        assert!(
            policy.contains(&format!(
                "Allow group <your-group> to {resource} in compartment id {COMPARTMENT}"
            )),
            "{policy}"
        );
        assert!(policy.contains("use vnics"), "{policy}");
        assert!(!e.is_transient());
    }
    env.assert_on(VIP, VNIC1);

    // A principal that cannot even read it: reported as not found / not visible.
    let client = env.user_client(USER_NO_GRANTS).await;
    let e = client.check_update_permission(VIP_ID).await.unwrap_err();
    assert_eq!(e.category(), "not_found", "{e}");

    // The grant added at runtime (IAM policy change): the same client now passes.
    env.sim.faults().set_permissions(
        USER_READ_ONLY,
        pgvip_cloudsim::inventory::Permissions {
            read: true,
            update: true,
        },
    );
    let client = env.user_client(USER_READ_ONLY).await;
    client.check_update_permission(VIP_ID).await.unwrap();
}

#[tokio::test]
async fn a_concurrent_move_wins_and_the_check_reports_a_conflict() {
    let env = start(|_| {}).await;
    let checker = env.user_client(USER).await;
    let mover = OciClient::new(env.config(env.instance_principal(I1)))
        .await
        .unwrap();
    // Every update waits 600 ms in the simulator before it is applied.
    env.sim
        .faults()
        .set_latency(Some(Operation::UpdatePrivateIp), Duration::from_millis(600));
    let moving = tokio::spawn(async move { mover.ensure_assigned(&to(VIP, I2)).await });
    // Wait until the mover has read the private IP (its update is now in flight).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !env
        .calls(Operation::GetPrivateIp)
        .iter()
        .any(|r| r.principal.as_deref() == Some(I1))
    {
        assert!(tokio::time::Instant::now() < deadline, "mover never read");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e = checker.check_update_permission(VIP_ID).await.unwrap_err();
    assert_eq!(e.category(), "conflict", "{e}");
    assert!(e.is_transient());
    moving.await.unwrap().unwrap();
    // The failover stands: the check did not put the address back.
    env.assert_on(VIP, VNIC2);
    let upd = env.calls(Operation::UpdatePrivateIp);
    let by = |p: &str| {
        upd.iter()
            .filter(|r| r.principal.as_deref() == Some(p))
            .map(|r| r.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(by(I1), [200]);
    assert_eq!(by(USER), [412]);
}
