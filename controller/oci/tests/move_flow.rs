//! `ensure_assigned` and friends against the in-test stub (signatures verified by the stub).

mod common;

use common::*;
use pgvip_oci::{Assignment, MoveRequest, OciClient, OciError};
use std::net::IpAddr;
use std::time::Duration;

/// A stub serving `world` (over HTTPS when `tls`), and an API-key client for it.
async fn setup(world: Sim, tls: bool) -> (Stub, tempfile::TempDir, OciClient) {
    let stub = start(world, tls).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = api_key_config(
        &stub,
        write_key(&dir, "key.pem", DOC_KEY),
        DOC_KEY_FINGERPRINT,
    );
    cfg.backoff_max = Duration::from_millis(50);
    cfg.call_timeout = Duration::from_secs(2);
    let client = OciClient::new(cfg).await.unwrap();
    (stub, dir, client)
}

fn req(ip: &str, node: &str) -> MoveRequest {
    MoveRequest {
        ip: ip.parse().unwrap(),
        subnet_id: SUBNET_DB.into(),
        provider_id: format!("oci://ocid1.instance.oc1.phx.{node}"),
        display_name: Some("orders-rw".into()),
    }
}

/// Puts `ip` on `node`, which must succeed.
async fn assign(client: &OciClient, ip: &str, node: &str) -> Assignment {
    client.ensure_assigned(&req(ip, node)).await.unwrap()
}

/// Puts `ip` on `node`, which must fail; returns the error.
async fn assign_err(client: &OciClient, ip: &str, node: &str) -> OciError {
    client.ensure_assigned(&req(ip, node)).await.unwrap_err()
}

#[tokio::test]
async fn create_then_move_then_nothing_over_https() {
    let (stub, _dir, client) = setup(standard_world(), true).await;

    // Absent: created on node a's DB VNIC (found although its attachment has no subnet hint).
    let a = assign(&client, "10.0.1.100", "a").await;
    assert!(a.created && a.changed);
    assert_eq!(a.vnic_id, "ocid1.vnic.a-db");
    assert_eq!(a.ip, "10.0.1.100".parse::<IpAddr>().unwrap());
    assert!(!a.opc_request_ids.is_empty());
    let post = stub.first_logged(|l| l.method == "POST");
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"vnicId": "ocid1.vnic.a-db", "ipAddress": "10.0.1.100", "displayName": "orders-rw"})
    );
    assert!(post.headers.contains_key("opc-retry-token"));

    // On node a's VNIC, requested on b: moved with if-match.
    let b = assign(&client, "10.0.1.100", "b").await;
    assert!(!b.created && b.changed);
    assert_eq!(b.vnic_id, "ocid1.vnic.b-db");
    assert_eq!(b.private_ip_id, a.private_ip_id);
    let put = stub.first_logged(|l| l.method == "PUT");
    assert_eq!(put.headers.get("if-match").unwrap(), "etag-1");
    assert_eq!(put.body, br#"{"vnicId":"ocid1.vnic.b-db"}"#);

    // Again on b: nothing to do, no mutation.
    let mutations = stub.requests("PUT", "") + stub.requests("POST", "");
    let c = assign(&client, "10.0.1.100", "b").await;
    assert!(!c.created && !c.changed);
    assert_eq!(
        stub.requests("PUT", "") + stub.requests("POST", ""),
        mutations
    );

    let cur = client
        .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cur.vnic_id, "ocid1.vnic.b-db");
    assert!(client
        .current_assignment("10.0.1.101".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap()
        .is_none());

    // The no-op permission probe keeps the VNIC and sends if-match.
    client
        .check_update_permission(&a.private_ip_id)
        .await
        .unwrap();
    let last_put = stub.last_logged(|l| l.method == "PUT");
    assert_eq!(last_put.body, br#"{"vnicId":"ocid1.vnic.b-db"}"#);
    assert_eq!(last_put.headers.get("if-match").unwrap(), "etag-2");
    assert_eq!(
        stub.lock().ips[&a.private_ip_id].vnic_id.as_deref(),
        Some("ocid1.vnic.b-db")
    );

    client.release(&a.private_ip_id).await.unwrap();
    client.release(&a.private_ip_id).await.unwrap(); // 404 is success
    assert!(client
        .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn typed_errors_for_operator_mistakes() {
    let (stub, _dir, client) = setup(standard_world(), false).await;

    let e = assign_err(&client, "10.0.1.10", "b").await;
    assert_eq!(e.category(), "primary_ip", "{e}");

    let e = assign_err(&client, "10.0.9.9", "a").await;
    assert_eq!(e.category(), "ip_outside_subnet", "{e}");

    let mut r = req("10.0.1.100", "a");
    r.subnet_id = "ocid1.subnet.oc1.phx.elsewhere".into();
    let e = client.ensure_assigned(&r).await.unwrap_err();
    assert_eq!(e.category(), "no_vnic_in_subnet");
    assert!(e.to_string().contains("ocid1.instance.oc1.phx.a"));

    let mut r = req("10.0.1.100", "a");
    r.provider_id = "aws:///eu-west-1a/i-0abc".into();
    assert_eq!(
        client.ensure_assigned(&r).await.unwrap_err().category(),
        "bad_provider_id"
    );
    r.provider_id = String::new();
    assert_eq!(
        client.ensure_assigned(&r).await.unwrap_err().category(),
        "no_provider_id"
    );

    let e = assign_err(&client, "10.0.1.100", "gone").await;
    // The node's providerID names the instance, so a 404 reads as a missing read grant.
    assert_eq!(e.category(), "permission", "{e}");
    assert!(
        e.to_string().contains("to read instances in compartment"),
        "{e}"
    );

    // Writes to b's VNIC are not authorized: permission error naming the verbs.
    stub.lock()
        .deny_write_on_vnics
        .insert("ocid1.vnic.b-db".into());
    let e = assign_err(&client, "10.0.1.100", "b").await;
    assert_eq!(e.category(), "permission", "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("use private-ips") && msg.contains("use vnics") && msg.contains(COMPARTMENT),
        "{msg}"
    );
    assert!(e.opc_request_id().is_some());
}

#[tokio::test]
async fn concurrent_change_412_is_decided_again() {
    let (stub, _dir, client) = setup(standard_world(), false).await;
    assign(&client, "10.0.1.100", "a").await;
    stub.fault(Fault::put_ip(412, "NoEtagMatch", 1));
    let b = assign(&client, "10.0.1.100", "b").await;
    assert_eq!(b.vnic_id, "ocid1.vnic.b-db");
    assert_eq!(stub.requests("PUT", "/privateIps/"), 2);

    // Persistent 412: a conflict after one re-decision, not a loop.
    stub.fault(Fault::put_ip(412, "NoEtagMatch", 10));
    let e = assign_err(&client, "10.0.1.100", "a").await;
    assert_eq!(e.category(), "conflict");
}

#[tokio::test]
async fn pagination_of_vnic_attachments() {
    let mut world = standard_world();
    world.page_size = 1;
    let (stub, _dir, client) = setup(world, false).await;
    let a = assign(&client, "10.0.1.100", "a").await;
    assert_eq!(a.vnic_id, "ocid1.vnic.a-db");
    assert!(stub.requests("GET", "page=p1") >= 1);
}

#[tokio::test]
async fn ipv6_uses_the_ipv6_collection() {
    let mut world = standard_world();
    world.subnets.insert(SUBNET_DB.into(), "fd00:1::".into());
    let (stub, _dir, client) = setup(world, false).await;
    let a = assign(&client, "fd00:1::64", "a").await;
    assert!(a.private_ip_id.starts_with("ocid1.ipv6."));
    let b = assign(&client, "fd00:1::64", "b").await;
    assert_eq!(b.vnic_id, "ocid1.vnic.b-db");
    assert!(stub.requests("GET", "/20160918/ipv6?ipAddress=fd00%3A1%3A%3A64") >= 1);
    assert_eq!(stub.requests("PUT", "/20160918/ipv6/"), 1);
    client.release(&a.private_ip_id).await.unwrap();
    assert_eq!(stub.requests("DELETE", "/20160918/ipv6/"), 1);
}
