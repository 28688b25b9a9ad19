//! Instance principal and OKE workload identity end to end against the stub: the stub checks
//! the federation signature (leaf key, `fed-x509-sha256` keyId), issues JWTs bound to the
//! session public key, and then verifies Core Services calls signed with `ST$<jwt>`.

mod common;

use common::*;
use pgvip_oci::auth::instance_principal::{InstancePrincipalProvider, InstancePrincipalSource};
use pgvip_oci::auth::workload_identity::{WorkloadIdentityProvider, WorkloadIdentitySource};
use pgvip_oci::auth::KeyProvider;
use pgvip_oci::config::parse_base_url;
use pgvip_oci::http::{build_client, Trust};
use pgvip_oci::{AuthConfig, MoveRequest, OciClient, OciConfig};
use std::sync::Arc;
use std::time::Duration;

fn cfg(iaas: &str, ca: Option<&str>) -> OciConfig {
    let mut c = OciConfig::new(
        Some("us-phoenix-1".into()),
        AuthConfig::InstancePrincipal {
            imds_url: None,
            federation_url: None,
        },
    );
    c.iaas_endpoint = Some(iaas.into());
    c.extra_ca_pem = ca.map(|s| s.as_bytes().to_vec());
    c.backoff_base = Duration::from_millis(10);
    c.call_timeout = Duration::from_secs(2);
    c
}

fn req(node: &str) -> MoveRequest {
    MoveRequest {
        ip: "10.0.1.100".parse().unwrap(),
        subnet_id: SUBNET_DB.into(),
        provider_id: format!("ocid1.instance.oc1.phx.{node}"),
        display_name: None,
    }
}

#[tokio::test]
async fn instance_principal_federates_once_and_refreshes_before_expiry() {
    let mut world = standard_world();
    world.token_lifetime = 62; // refresh_at = exp - 60 s → due two seconds after issue
    let stub = start(world, false).await;
    let url = parse_base_url("stub", &stub.url).unwrap();
    let http = build_client(None, Trust::PublicPlus, false).unwrap();
    let source = InstancePrincipalSource::new(
        http.clone(),
        http,
        url.clone(),
        url,
        Duration::from_secs(2),
        fixed_keygen(),
    );
    let provider = Arc::new(InstancePrincipalProvider::new(source));
    let client = OciClient::with_provider(cfg(&stub.url, None), provider.clone()).unwrap();

    let a = client.ensure_assigned(&req("a")).await.unwrap();
    client.ensure_assigned(&req("b")).await.unwrap();
    assert_eq!(stub.lock().issued, 1);
    assert_eq!(stub.requests("POST", "/v1/x509"), 1);
    assert_eq!(stub.requests("GET", "/opc/v2/identity/cert.pem"), 1);
    let creds = provider.credentials().await.unwrap();
    assert!(creds.key_id.starts_with("ST$"));
    // The federation call signs without host, per the SDKs.
    let fed = stub.first_logged(|l| l.path_and_query == "/v1/x509");
    let auth = header_str(&fed.headers, "authorization").unwrap();
    assert!(auth.contains(
        "headers=\"date (request-target) content-length content-type x-content-sha256\""
    ));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    client.current_assignment(a.ip, SUBNET_DB).await.unwrap();
    assert_eq!(stub.lock().issued, 2);

    // A revoked session (401) is refreshed once and the call goes through.
    let stale = provider.credentials().await.unwrap().key_id;
    stub.lock().keys.remove(&stale);
    client.current_assignment(a.ip, SUBNET_DB).await.unwrap();
    assert_eq!(stub.lock().issued, 3);
}

#[tokio::test]
async fn instance_principal_region_comes_from_imds() {
    let stub = start(standard_world(), false).await;
    let mut c = OciConfig::new(
        None,
        AuthConfig::InstancePrincipal {
            imds_url: Some(stub.url.clone()),
            federation_url: None,
        },
    );
    c.call_timeout = Duration::from_secs(2);
    let client = OciClient::new(c).await.unwrap();
    assert_eq!(
        client.endpoint().as_str(),
        "https://iaas.us-phoenix-1.oraclecloud.com/"
    );
    assert_eq!(stub.requests("GET", "/opc/v2/instance/"), 1);
}

#[tokio::test]
async fn workload_identity_over_tls_trusting_only_the_service_account_ca() {
    let stub = start(standard_world(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    std::fs::write(&token_path, "sa-token-1\n").unwrap();
    let ca = stub.ca_pem.clone().unwrap();
    let endpoint = parse_base_url(
        "proxymux",
        &format!("{}/resourcePrincipalSessionTokens", stub.url),
    )
    .unwrap();
    let http = build_client(Some(ca.as_bytes()), Trust::Only, false).unwrap();
    let source = WorkloadIdentitySource::new(
        http,
        endpoint,
        token_path.clone(),
        Duration::from_secs(2),
        fixed_keygen(),
    );
    let provider = Arc::new(WorkloadIdentityProvider::new(source));
    let client = OciClient::with_provider(cfg(&stub.url, Some(&ca)), provider.clone()).unwrap();
    client.ensure_assigned(&req("a")).await.unwrap();
    assert_eq!(stub.lock().issued, 1);
    let sent = stub.first_logged(|l| l.path_and_query == "/resourcePrincipalSessionTokens");
    assert_eq!(
        sent.headers.get("authorization").unwrap(),
        "Bearer sa-token-1"
    );
    assert_eq!(
        sent.headers.get("content-type").unwrap(),
        "application/json"
    );

    // The projected token rotates: the next exchange reads the new file.
    stub.lock().sa_token = "sa-token-2".into();
    std::fs::write(&token_path, "sa-token-2").unwrap();
    provider.invalidate().await;
    client.ensure_assigned(&req("b")).await.unwrap();
    assert_eq!(stub.lock().issued, 2);

    // A proxymux whose certificate is not signed by the service-account CA is refused.
    let other = start(standard_world(), true).await;
    let endpoint = parse_base_url(
        "proxymux",
        &format!("{}/resourcePrincipalSessionTokens", other.url),
    )
    .unwrap();
    let http = build_client(Some(ca.as_bytes()), Trust::Only, false).unwrap();
    let bad = WorkloadIdentityProvider::new(WorkloadIdentitySource::new(
        http,
        endpoint,
        token_path,
        Duration::from_secs(2),
        fixed_keygen(),
    ));
    let e = bad.credentials().await.unwrap_err();
    assert_eq!(e.category(), "auth");
    assert_eq!(other.lock().issued, 0);
}

#[tokio::test]
async fn workload_identity_config_errors() {
    let mut c = OciConfig::new(
        Some("us-phoenix-1".into()),
        AuthConfig::WorkloadIdentity {
            token_path: "/nonexistent/token".into(),
            ca_path: "/nonexistent/ca.crt".into(),
            endpoint: Some("https://127.0.0.1:1/x".into()),
        },
    );
    c.call_timeout = Duration::from_secs(1);
    assert_eq!(OciClient::new(c).await.unwrap_err().category(), "config");
}
