//! Retries under faults the simulator injects: 429 (with and without `Retry-After`), 5xx,
//! 501 (never retried), held connections (timeouts) and dropped connections. Each test reads
//! the simulator's call log to see the attempts as the server saw them.

use std::time::Duration;

use pgvip_cloudsim::{Failure, Operation};
use pgvip_oci::{OciClient, OciError};

use crate::harness::*;

async fn client(env: &Env, f: impl FnOnce(&mut pgvip_oci::OciConfig)) -> OciClient {
    let mut cfg = env.user_config(USER);
    f(&mut cfg);
    OciClient::new(cfg).await.unwrap()
}

/// A 429, with `Retry-After` when `retry_after_seconds` is set.
fn throttle(retry_after_seconds: Option<u64>) -> Failure {
    Failure::Throttle {
        retry_after_seconds,
    }
}

fn statuses(env: &Env, op: Operation) -> Vec<u16> {
    env.calls(op).iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let (env, client) = start_as(USER).await;
    env.fail_next(Operation::UpdatePrivateIp, 1, throttle(Some(1)));
    let a = client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    assert!(a.changed);
    env.assert_on(VIP, VNIC2);
    let upd = env.calls(Operation::UpdatePrivateIp);
    assert_eq!(statuses(&env, Operation::UpdatePrivateIp), [429, 200]);
    // The backoff cap is 200 ms here; Retry-After: 1 must win.
    let gap = millis_of_day(&upd[1].timestamp) - millis_of_day(&upd[0].timestamp);
    assert!(gap >= 990, "retried after {gap} ms");

    // Without Retry-After: jittered backoff, still converging. The move back reads the
    // private IP by the OCID the first move found (no listing).
    env.fail_next(Operation::GetPrivateIp, 2, throttle(None));
    client.ensure_assigned(&to(VIP, I1)).await.unwrap();
    env.assert_on(VIP, VNIC1);
    assert_eq!(
        statuses(&env, Operation::GetPrivateIp)[1..],
        [429, 429, 200]
    );
    assert_eq!(statuses(&env, Operation::ListPrivateIps), [200]);
}

#[tokio::test]
async fn persistent_throttling_gives_up_after_max_attempts() {
    let env = start(|_| {}).await;
    let client = client(&env, |c| c.max_attempts = 3).await;
    env.fail_next(Operation::GetInstance, 10, throttle(None));
    let e = client.ensure_assigned(&to(VIP, I2)).await.unwrap_err();
    assert!(
        matches!(
            e,
            OciError::Throttled {
                operation: "GetInstance",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_transient());
    assert_eq!(statuses(&env, Operation::GetInstance), [429, 429, 429]);
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn server_errors_are_retried_and_create_stays_idempotent() {
    let (env, client) = start_as(USER).await;
    env.fail_next(Operation::GetPrivateIp, 2, Failure::Status { status: 503 });
    env.fail_next(
        Operation::CreatePrivateIp,
        1,
        Failure::Status { status: 500 },
    );
    env.fail_next(Operation::CreatePrivateIp, 1, Failure::Drop);
    client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    // Read for its etag (retried), then the update's own answer confirms the move.
    assert_eq!(statuses(&env, Operation::GetPrivateIp), [503, 503, 200]);
    env.assert_on(VIP, VNIC2);

    let a = client
        .ensure_assigned(&to("10.0.10.201", I1))
        .await
        .unwrap();
    assert!(a.created);
    assert_eq!(statuses(&env, Operation::CreatePrivateIp), [500, 0, 200]);
    env.assert_on("10.0.10.201", VNIC1);
}

#[tokio::test]
async fn not_implemented_is_not_retried() {
    let (env, client) = start_as(USER).await;
    env.fail_next(
        Operation::UpdatePrivateIp,
        1,
        Failure::Status { status: 501 },
    );
    let e = client.ensure_assigned(&to(VIP, I2)).await.unwrap_err();
    assert!(matches!(e, OciError::Server { status: 501, .. }), "{e:?}");
    assert_eq!(statuses(&env, Operation::UpdatePrivateIp), [501]);
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn held_connections_time_out_and_are_retried() {
    let env = start(|_| {}).await;
    let client = client(&env, |c| c.call_timeout = Duration::from_millis(400)).await;
    env.fail_next(Operation::ListPrivateIps, 1, Failure::Timeout);
    env.fail_next(Operation::GetInstance, 1, Failure::Drop);
    client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    env.assert_on(VIP, VNIC2);
    let list = env.calls(Operation::ListPrivateIps);
    assert_eq!(
        list.iter()
            .map(|r| (r.status, r.code.as_deref()))
            .collect::<Vec<_>>(),
        [(0, Some("Timeout")), (200, None)]
    );
    assert_eq!(statuses(&env, Operation::GetInstance), [0, 200]);

    // A budget shorter than the held call: the whole move reports a timeout.
    let client = client_with_deadline(&env).await;
    env.fail_next(Operation::ListPrivateIps, 5, Failure::Timeout);
    let e = client.ensure_assigned(&to(VIP, I1)).await.unwrap_err();
    assert_eq!(e.category(), "timeout", "{e}");
    env.assert_on(VIP, VNIC2);
}

async fn client_with_deadline(env: &Env) -> OciClient {
    client(env, |c| {
        c.call_timeout = Duration::from_millis(300);
        c.move_deadline = Duration::from_millis(900);
    })
    .await
}
