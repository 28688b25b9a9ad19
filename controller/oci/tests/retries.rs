//! Retry, timeout, deadline, rate-limit and authentication-failure behaviour against the stub.

mod common;

use axum::http::Method;
use common::*;
use pgvip_oci::{AuthConfig, MoveRequest, OciClient, OciConfig};
use std::time::{Duration, Instant};

fn config(stub: &Stub, key_path: std::path::PathBuf, fingerprint: &str) -> OciConfig {
    let mut cfg = OciConfig::new(
        Some("us-phoenix-1".into()),
        AuthConfig::ApiKey {
            tenancy: "ocid1.tenancy.oc1..t".into(),
            user: "ocid1.user.oc1..u".into(),
            fingerprint: fingerprint.into(),
            key_path,
            passphrase_path: None,
        },
    );
    cfg.iaas_endpoint = Some(stub.url.clone());
    cfg.backoff_base = Duration::from_millis(10);
    cfg.backoff_max = Duration::from_millis(40);
    cfg.call_timeout = Duration::from_millis(300);
    cfg.max_attempts = 4;
    cfg.rate_limit_per_sec = 1000.0;
    cfg.burst = 1000;
    cfg
}

async fn client_with(
    stub: &Stub,
    dir: &tempfile::TempDir,
    tweak: impl FnOnce(&mut OciConfig),
) -> OciClient {
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, DOC_KEY).unwrap();
    let mut cfg = config(
        stub,
        key_path,
        "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7",
    );
    tweak(&mut cfg);
    OciClient::new(cfg).await.unwrap()
}

fn req(ip: &str, node: &str) -> MoveRequest {
    MoveRequest {
        ip: ip.parse().unwrap(),
        subnet_id: SUBNET_DB.into(),
        provider_id: format!("ocid1.instance.oc1.phx.{node}"),
        display_name: None,
    }
}

#[tokio::test]
async fn throttling_honours_retry_after_then_succeeds() {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(&stub, &dir, |_| {}).await;
    let mut f = Fault::status(None, "/instances/", 429, "TooManyRequests", 1);
    f.retry_after = Some(1);
    stub.fault(f);
    let start = Instant::now();
    client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(stub.requests("GET", "/instances/"), 2);
}

#[tokio::test]
async fn server_errors_are_retried_but_501_and_4xx_are_not() {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(&stub, &dir, |_| {}).await;

    stub.fault(Fault::status(
        None,
        "/vnicAttachments",
        503,
        "ServiceUnavailable",
        2,
    ));
    client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    assert_eq!(stub.requests("GET", "/vnicAttachments"), 3);

    // Persistent 500: max_attempts then `server`.
    stub.fault(Fault::status(
        None,
        "/privateIps?",
        500,
        "InternalServerError",
        10,
    ));
    let e = client
        .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "server");
    // One list during the create above, then max_attempts (4) here.
    assert_eq!(stub.requests("GET", "/privateIps?"), 1 + 4);
    stub.lock().faults.clear();

    let before = stub.requests("GET", "/privateIps?");
    stub.fault(Fault::status(
        None,
        "/privateIps?",
        501,
        "MethodNotImplemented",
        5,
    ));
    assert_eq!(
        client
            .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
            .await
            .unwrap_err()
            .category(),
        "server"
    );
    assert_eq!(stub.requests("GET", "/privateIps?"), before + 1);
    stub.lock().faults.clear();

    let before = stub.requests("GET", "/privateIps?");
    stub.fault(Fault::status(
        None,
        "/privateIps?",
        400,
        "InvalidParameter",
        5,
    ));
    assert_eq!(
        client
            .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
            .await
            .unwrap_err()
            .category(),
        "bad_request"
    );
    assert_eq!(stub.requests("GET", "/privateIps?"), before + 1);
    stub.lock().faults.clear();

    // 409 IncorrectState is retried; 409 Conflict on update is not.
    stub.fault(Fault::status(
        Some(Method::PUT),
        "/privateIps/",
        409,
        "IncorrectState",
        1,
    ));
    client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap();
    assert_eq!(stub.requests("PUT", "/privateIps/"), 2);
    stub.fault(Fault::status(
        Some(Method::PUT),
        "/privateIps/",
        409,
        "Conflict",
        5,
    ));
    assert_eq!(
        client
            .ensure_assigned(&req("10.0.1.100", "a"))
            .await
            .unwrap_err()
            .category(),
        "conflict"
    );
    assert_eq!(stub.requests("PUT", "/privateIps/"), 3);
}

#[tokio::test]
async fn slow_answers_time_out_per_call_and_per_move() {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(&stub, &dir, |c| c.max_attempts = 2).await;
    // One slow answer: the retry succeeds.
    stub.fault(Fault::delay("/instances/", Duration::from_millis(800), 1));
    client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    // Always slow: `timeout` after the attempts.
    stub.fault(Fault::delay("/privateIps?", Duration::from_millis(800), 10));
    let e = client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "timeout");
    stub.lock().faults.clear();

    // Overall deadline shorter than the retries.
    let client = client_with(&stub, &dir, |c| {
        c.max_attempts = 10;
        c.move_deadline = Duration::from_millis(500);
    })
    .await;
    stub.fault(Fault::delay("/instances/", Duration::from_millis(800), 10));
    let start = Instant::now();
    let e = client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "timeout");
    assert!(e.to_string().contains("EnsureAssigned"));
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(&stub, &dir, |c| {
        c.iaas_endpoint = Some("http://127.0.0.1:1".into())
    })
    .await;
    let e = client
        .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "transport", "{e}");
}

#[tokio::test]
async fn wrong_key_is_an_auth_error_after_one_refresh() {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("other.pem");
    std::fs::write(&key_path, SESSION_KEY).unwrap();
    let client = OciClient::new(config(
        &stub,
        key_path,
        "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7",
    ))
    .await
    .unwrap();
    let e = client
        .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "auth", "{e}");
    assert!(e.opc_request_id().is_some());
    // First 401 → invalidate and retry once; second 401 → surfaced, never retried further.
    assert_eq!(stub.requests("GET", "/privateIps?"), 2);
}

#[tokio::test]
async fn one_rate_limiter_is_shared_by_all_clones() {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(&stub, &dir, |c| {
        c.rate_limit_per_sec = 20.0;
        c.burst = 1;
    })
    .await;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 1 immediate + 7 × 50 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(340),
        "{:?}",
        start.elapsed()
    );
}
