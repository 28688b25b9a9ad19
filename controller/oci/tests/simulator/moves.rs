//! What a move costs in calls once the client has seen the address, and that what it
//! remembers never outlives the address itself.

use pgvip_cloudsim::Operation;

use crate::harness::*;

/// The Core Services operations the simulator logged from call number `from` on.
fn ops_since(env: &Env, from: usize) -> Vec<Operation> {
    env.core_calls()[from..]
        .iter()
        .map(|r| r.operation)
        .collect()
}

#[tokio::test]
async fn a_known_address_moves_with_one_read_and_one_update() {
    let (env, client) = start_as(USER).await;
    client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    client.ensure_assigned(&to(VIP, I1)).await.unwrap();
    // Both nodes' VNICs and the address's OCID are known now: read it (for its etag), move
    // it, and take the update's own answer as the confirmation.
    let before = env.core_calls().len();
    let a = client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    assert!(a.changed && !a.created);
    env.assert_on(VIP, VNIC2);
    assert_eq!(
        ops_since(&env, before),
        [Operation::GetPrivateIp, Operation::UpdatePrivateIp]
    );
    assert_eq!(a.opc_request_ids.len(), 2);
}

#[tokio::test]
async fn an_address_deleted_by_someone_else_is_listed_and_created_again() {
    let (env, client) = start_as(USER).await;
    let a = client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    env.user_client(USER)
        .await
        .release(&a.private_ip_id)
        .await
        .unwrap();
    let before = env.core_calls().len();
    let b = client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    assert!(b.created, "{b:?}");
    assert_ne!(b.private_ip_id, a.private_ip_id);
    env.assert_on(VIP, VNIC2);
    let ops = ops_since(&env, before);
    assert_eq!(
        ops[..2],
        [Operation::GetPrivateIp, Operation::ListPrivateIps],
        "{ops:?}"
    );
    assert_eq!(
        env.calls(Operation::GetPrivateIp).last().map(|r| r.status),
        Some(404)
    );
}
