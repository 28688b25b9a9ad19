//! Retry, timeout, deadline, rate-limit and authentication-failure behaviour against the stub.

mod common;

use common::*;
use pgvip_oci::{MoveRequest, OciClient, OciConfig};
use std::time::{Duration, Instant};

/// The stub's API user signing with `key_path`: short timeouts, four attempts.
fn config(stub: &Stub, key_path: std::path::PathBuf) -> OciConfig {
    let mut cfg = api_key_config(stub, key_path, DOC_KEY_FINGERPRINT);
    cfg.backoff_max = Duration::from_millis(40);
    cfg.call_timeout = Duration::from_millis(300);
    cfg.max_attempts = 4;
    cfg
}

async fn client_with(
    stub: &Stub,
    dir: &tempfile::TempDir,
    tweak: impl FnOnce(&mut OciConfig),
) -> OciClient {
    let mut cfg = config(stub, write_key(dir, "key.pem", DOC_KEY));
    tweak(&mut cfg);
    OciClient::new(cfg).await.unwrap()
}

/// A plain-HTTP stub of the standard world and a client configured by [`config`] and `tweak`.
async fn setup(tweak: impl FnOnce(&mut OciConfig)) -> (Stub, tempfile::TempDir, OciClient) {
    let stub = start(standard_world(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(&stub, &dir, tweak).await;
    (stub, dir, client)
}

/// Looks the address up once while the next `times` lists answer `status` / `code`; returns
/// the error category and how many list requests the lookup made.
async fn lookup_under_fault(
    stub: &Stub,
    client: &OciClient,
    status: u16,
    code: &str,
    times: usize,
) -> (&'static str, usize) {
    let before = stub.requests("GET", "/privateIps?");
    stub.fault(Fault::status(None, "/privateIps?", status, code, times));
    let e = client
        .current_assignment("10.0.1.100".parse().unwrap(), SUBNET_DB)
        .await
        .unwrap_err();
    stub.lock().faults.clear();
    (e.category(), stub.requests("GET", "/privateIps?") - before)
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
    let (stub, _dir, client) = setup(|_| {}).await;
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
    let (stub, _dir, client) = setup(|_| {}).await;

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

    // Persistent 500: max_attempts (4) then `server`, after the one list of the create above.
    assert_eq!(stub.requests("GET", "/privateIps?"), 1);
    assert_eq!(
        lookup_under_fault(&stub, &client, 500, "InternalServerError", 10).await,
        ("server", 4)
    );
    // 501 and 400 are not retried.
    assert_eq!(
        lookup_under_fault(&stub, &client, 501, "MethodNotImplemented", 5).await,
        ("server", 1)
    );
    assert_eq!(
        lookup_under_fault(&stub, &client, 400, "InvalidParameter", 5).await,
        ("bad_request", 1)
    );

    // 409 IncorrectState is retried; 409 Conflict on update is not.
    stub.fault(Fault::put_ip(409, "IncorrectState", 1));
    client
        .ensure_assigned(&req("10.0.1.100", "b"))
        .await
        .unwrap();
    assert_eq!(stub.requests("PUT", "/privateIps/"), 2);
    stub.fault(Fault::put_ip(409, "Conflict", 5));
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
    let (stub, dir, client) = setup(|c| c.max_attempts = 2).await;
    // One slow answer: the retry succeeds.
    stub.fault(Fault::delay("/instances/", Duration::from_millis(800), 1));
    client
        .ensure_assigned(&req("10.0.1.100", "a"))
        .await
        .unwrap();
    // Always slow (the read by the remembered OCID and the listing alike): `timeout` after the
    // attempts.
    stub.fault(Fault::delay("/privateIps", Duration::from_millis(800), 10));
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
    let (_stub, _dir, client) =
        setup(|c| c.iaas_endpoint = Some("http://127.0.0.1:1".into())).await;
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
    let key_path = write_key(&dir, "other.pem", SESSION_KEY);
    let client = OciClient::new(config(&stub, key_path)).await.unwrap();
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
    let (_stub, _dir, client) = setup(|c| {
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
