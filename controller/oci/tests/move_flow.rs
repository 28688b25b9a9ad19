//! `ensure_assigned` and friends against the in-test stub (signatures verified by the stub).

mod common;

use common::*;
use pgvip_oci::{AuthConfig, MoveRequest, OciClient, OciConfig};
use std::net::IpAddr;
use std::time::Duration;

pub async fn api_key_client(stub: &Stub, dir: &tempfile::TempDir) -> OciClient {
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, DOC_KEY).unwrap();
    let mut cfg = OciConfig::new(
        Some("us-phoenix-1".into()),
        AuthConfig::ApiKey {
            tenancy: "ocid1.tenancy.oc1..t".into(),
            user: "ocid1.user.oc1..u".into(),
            fingerprint: "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7".into(),
            key_path,
            passphrase_path: None,
        },
    );
    cfg.iaas_endpoint = Some(stub.url.clone());
    cfg.extra_ca_pem = stub.ca_pem.clone().map(String::into_bytes);
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(50);
    cfg.call_timeout = Duration::from_secs(2);
    cfg.rate_limit_per_sec = 1000.0;
    cfg.burst = 1000;
    OciClient::new(cfg).await.unwrap()
}

fn req(ip: &str, node: &str) -> MoveRequest {
    MoveRequest {
        ip: ip.parse().unwrap(),
        subnet_id: SUBNET_DB.into(),
        provider_id: format!("oci://ocid1.instance.oc1.phx.{node}"),
        display_name: Some("orders-rw".into()),
    }
}

#[tokio::test]
async fn create_then_move_then_nothing_over_https() {
    let stub = start(standard_world(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let client = api_key_client(&stub, &dir).await;

    // Absent: created on node a's DB VNIC (found although its attachment has no subnet hint).
    let a = client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    assert!(a.created && a.changed);
    assert_eq!(a.vnic_id, "ocid1.vnic.a-db");
    assert_eq!(a.ip, "10.0.1.100".parse::<IpAddr>().unwrap());
    assert!(!a.opc_request_ids.is_empty());
    let post = stub
        .lock()
        .log
        .iter()
        .find(|l| l.method == "POST")
        .cloned()
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"vnicId": "ocid1.vnic.a-db", "ipAddress": "10.0.1.100", "displayName": "orders-rw"})
    );
    assert!(post.headers.contains_key("opc-retry-token"));

    // On node a's VNIC, requested on b: moved with if-match.
    let b = client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap();
    assert!(!b.created && b.changed);
    assert_eq!(b.vnic_id, "ocid1.vnic.b-db");
    assert_eq!(b.private_ip_id, a.private_ip_id);
    let put = stub
        .lock()
        .log
        .iter()
        .find(|l| l.method == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(put.headers.get("if-match").unwrap(), "etag-1");
    assert_eq!(put.body, br#"{"vnicId":"ocid1.vnic.b-db"}"#);

    // Again on b: nothing to do, no mutation.
    let mutations = stub.requests("PUT", "") + stub.requests("POST", "");
    let c = client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap();
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
    let last_put = stub
        .lock()
        .log
        .iter()
        .rev()
        .find(|l| l.method == "PUT")
        .cloned()
        .unwrap();
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
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = api_key_client(&stub, &dir).await;

    let e = client
        .ensure_assigned(&req("10.0.1.10", "b"))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "primary_ip", "{e}");

    let e = client
        .ensure_assigned(&req("10.0.9.9", "a"))
        .await
        .unwrap_err();
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

    let e = client
        .ensure_assigned(&req("10.0.1.100", "gone"))
        .await
        .unwrap_err();
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
    let e = client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap_err();
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
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = api_key_client(&stub, &dir).await;
    client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    stub.fault(Fault::status(
        Some(axum::http::Method::PUT),
        "/privateIps/",
        412,
        "NoEtagMatch",
        1,
    ));
    let b = client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap();
    assert_eq!(b.vnic_id, "ocid1.vnic.b-db");
    assert_eq!(stub.requests("PUT", "/privateIps/"), 2);

    // Persistent 412: a conflict after one re-decision, not a loop.
    stub.fault(Fault::status(
        Some(axum::http::Method::PUT),
        "/privateIps/",
        412,
        "NoEtagMatch",
        10,
    ));
    let e = client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "conflict");
}

#[tokio::test]
async fn pagination_of_vnic_attachments() {
    let mut world = standard_world();
    world.page_size = 1;
    let stub = start(world, false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = api_key_client(&stub, &dir).await;
    let a = client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    assert_eq!(a.vnic_id, "ocid1.vnic.a-db");
    assert!(stub.requests("GET", "page=p1") >= 1);
}

#[tokio::test]
async fn ipv6_uses_the_ipv6_collection() {
    let mut world = standard_world();
    world.subnets.insert(SUBNET_DB.into(), "fd00:1::".into());
    let stub = start(world, false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = api_key_client(&stub, &dir).await;
    let a = client
        .ensure_assigned(&req("fd00:1::64", "a"))
        .await
        .unwrap();
    assert!(a.private_ip_id.starts_with("ocid1.ipv6."));
    let b = client
        .ensure_assigned(&req("fd00:1::64", "b"))
        .await
        .unwrap();
    assert_eq!(b.vnic_id, "ocid1.vnic.b-db");
    assert!(stub.requests("GET", "/20160918/ipv6?ipAddress=fd00%3A1%3A%3A64") >= 1);
    assert_eq!(stub.requests("PUT", "/20160918/ipv6/"), 1);
    client.release(&a.private_ip_id).await.unwrap();
    assert_eq!(stub.requests("DELETE", "/20160918/ipv6/"), 1);
}
