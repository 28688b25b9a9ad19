//! Many concurrent moves through one client: the shared client-side token bucket must keep
//! the request rate the simulator observes (its own arrival timestamps) under the
//! simulator's per-tenancy limit, so OCI never has to throttle, and every address must end
//! up on its target VNIC.

use std::time::{Duration, Instant};

use futures::future::join_all;
use pgvip_cloudsim::{CallRecord, RateLimit};
use pgvip_oci::{MoveRequest, OciClient, OciConfig};

use crate::harness::*;

const NODES: usize = 8;
const IPS: usize = 100;
/// The simulator's per-tenancy rate limit.
const SIM_LIMIT: RateLimit = RateLimit {
    per_second: 150.0,
    burst: 20,
};

/// The largest number of calls that arrived within any window of `window_ms`.
fn max_in_window(calls: &[CallRecord], window_ms: u64) -> usize {
    let mut t: Vec<u64> = calls.iter().map(|r| millis_of_day(&r.timestamp)).collect();
    t.sort_unstable();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi] - t[lo] >= window_ms {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// Moves IP j from node j % NODES to node (j+1) % NODES, all at once.
async fn move_all(client: &OciClient, nodes: &[(String, String)]) -> Vec<Result<(), String>> {
    let reqs: Vec<MoveRequest> = (0..IPS)
        .map(|j| MoveRequest {
            ip: load_ip(j),
            subnet_id: SUBNET_A.into(),
            provider_id: nodes[(j + 1) % NODES].0.clone(),
            display_name: None,
        })
        .collect();
    join_all(reqs.iter().map(|r| async move {
        client
            .ensure_assigned(r)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }))
    .await
}

/// The simulator with NODES more instances holding IPS addresses between them, limiting the
/// tenancy to [`SIM_LIMIT`]; returns it with the nodes' (instance, VNIC) OCIDs and a client of
/// [`USER`] whose config `tweak` adjusts.
async fn load_env(tweak: impl FnOnce(&mut OciConfig)) -> (Env, Vec<(String, String)>, OciClient) {
    let mut nodes = Vec::new();
    let env = start(|c| {
        nodes = add_load_world(&mut c.inventory, NODES, IPS);
        c.rate_limit = Some(SIM_LIMIT);
    })
    .await;
    let mut cfg = env.user_config(USER);
    tweak(&mut cfg);
    let client = OciClient::new(cfg).await.unwrap();
    (env, nodes, client)
}

fn throttled(env: &Env) -> usize {
    env.core_calls().iter().filter(|r| r.status == 429).count()
}

#[tokio::test]
async fn concurrent_moves_stay_under_the_tenancy_rate_limit() {
    // Half the simulator's rate: the limiter bounds departures, and on a loaded two-core
    // machine arrivals bunch; a client configured right at the limit saw a 429 in CI.
    let (env, nodes, client) = load_env(|cfg| {
        cfg.rate_limit_per_sec = 75.0;
        cfg.burst = 5;
        cfg.move_deadline = Duration::from_secs(60);
    })
    .await;

    let started = Instant::now();
    let results = move_all(&client, &nodes).await;
    let elapsed = started.elapsed();
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:?}");

    // The simulator's view: every address on its target, never throttled.
    for j in 0..IPS {
        let want = &nodes[(j + 1) % NODES].1;
        assert_eq!(
            env.sim.assignment(load_ip(j)).as_ref(),
            Some(want),
            "{}",
            load_ip(j)
        );
    }
    let calls = env.core_calls();
    assert_eq!(throttled(&env), 0, "the simulator throttled the client");
    let updates = calls
        .iter()
        .filter(|r| r.operation == pgvip_cloudsim::Operation::UpdatePrivateIp)
        .count();
    assert_eq!(updates, IPS);
    // 100 moves to 8 nodes, all at once: each node's VNIC is looked up once, not once per move.
    let lookups = calls
        .iter()
        .filter(|r| r.operation == pgvip_cloudsim::Operation::GetInstance)
        .count();
    assert_eq!(lookups, NODES, "one VNIC lookup per node");
    // Arrival rate as the simulator saw it (its own timestamps): within any second, no more
    // than the simulator's burst plus one second of its rate. (The client's own bound is
    // 5 + 75; arrivals can bunch a little more than departures on a busy runtime.)
    let peak = max_in_window(&calls, 1000);
    let sim_bound = f64::from(SIM_LIMIT.burst) + SIM_LIMIT.per_second;
    assert!(peak as f64 <= sim_bound, "peak {peak} calls in one second");
    let overall = calls.len() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "{IPS} concurrent moves: {} calls in {elapsed:?} ({overall:.0}/s), peak {peak} in 1 s, 0 throttled",
        calls.len()
    );
    assert!(overall <= SIM_LIMIT.per_second, "{overall}/s");
}

#[tokio::test]
async fn without_the_client_limit_the_simulator_throttles() {
    // Control for the test above: the same burst with a client limit far above the
    // simulator's, so the 429 count it asserts to be zero is really observable.
    let (env, nodes, client) = load_env(|cfg| {
        cfg.rate_limit_per_sec = 100_000.0;
        cfg.burst = 100_000;
        cfg.max_in_flight = 1000;
        cfg.max_attempts = 8;
    })
    .await;
    let _ = move_all(&client, &nodes).await;
    assert!(throttled(&env) > 0);
}
