//! The client's own cost per move, apart from the simulator's latency.
//!
//! Part 1 times (thread CPU time, so other processes on the machine do not inflate it),
//! in-process and without I/O, what the client does per call: RSA-SHA256
//! request signing (GET and PUT with the body-hash headers) and JSON encode/decode, and sums
//! them for a warm move (ListPrivateIps, GetPrivateIp, UpdatePrivateIp, GetPrivateIp).
//! Part 2 runs real warm moves through `OciClient` (instance principal, so an RSA-2048
//! session key as in part 1) against `pgvip-cloudsim` on 127.0.0.1 (which verifies every
//! signature, over TLS), once with no injected latency and once with a fixed
//! latency per call. It reports wall time and the process's CPU time per move (client and
//! simulator share the process), split into "client overhead" (part 1) and the rest
//! (simulator work, HTTP/TLS at both ends, runtime).
//!
//! Run: `cargo bench -p pgvip-oci --bench overhead` (plain `Instant` loops, no harness).

#[path = "../tests/simulator/harness.rs"]
#[allow(dead_code)]
mod harness;

use nix::time::{clock_gettime, ClockId};
use pgvip_oci::keys::parse_private_key_pem;
use pgvip_oci::model::{IpRecord, PrivateIp, UpdateIpDetails};
use pgvip_oci::signer::{format_date, sign_request, HeaderSet};
use pgvip_oci::OciClient;
use std::time::{Duration, Instant, SystemTime};

const SESSION_KEY: &str = include_str!("../tests/fixtures/session_key_2048.pem");

/// Batches whose mean is taken; the fastest batch is reported, so other processes competing
/// for the CPU (a shared build machine) inflate the figures as little as possible.
const BATCHES: u32 = 7;

fn cpu(clock: ClockId) -> Duration {
    clock_gettime(clock).map(Duration::from).unwrap_or_default()
}

/// CPU time of the calling thread (unaffected by other processes waiting for the CPU).
fn thread_cpu() -> Duration {
    cpu(ClockId::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of this process, every thread: client and simulator together.
fn process_cpu() -> Duration {
    cpu(ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

fn per_iter(label: &str, n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..(n / 10).max(1) {
        f();
    }
    let per_batch = (n / BATCHES).max(1);
    let d = (0..BATCHES)
        .map(|_| {
            let start = thread_cpu();
            for _ in 0..per_batch {
                f();
            }
            (thread_cpu() - start) / per_batch
        })
        .min()
        .unwrap_or_default();
    println!("{label:<52} {:>10.1} µs", us(d));
    d
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Part 1: the client's CPU per warm move.
fn client_overhead() -> Duration {
    let key = parse_private_key_pem(SESSION_KEY, None).unwrap();
    let url = url::Url::parse(
        "https://iaas.us-ashburn-1.oraclecloud.com/20160918/privateIps/ocid1.privateip.oc1.iad.abc",
    )
    .unwrap();
    let body = serde_json::to_vec(&UpdateIpDetails {
        vnic_id: "ocid1.vnic.oc1.iad.abcdefghijklmnopqrstuvwxyz0123456789".into(),
    })
    .unwrap();
    let date = format_date(SystemTime::now());
    let key_id = "ST$eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.sig";

    println!("-- client CPU per operation (RSA-2048 session key) --");
    let sign = |method: &'static str, body: &'static [u8]| {
        let (key, url) = (&key, &url);
        let date = date.clone();
        move || {
            std::hint::black_box(
                sign_request(key_id, key, method, url, body, &date, HeaderSet::Service).unwrap(),
            );
        }
    };
    let sign_get = per_iter(
        "sign GET (date, request-target, host)",
        300,
        sign("GET", b""),
    );
    let body: &'static [u8] = Box::leak(body.into_boxed_slice());
    let sign_put = per_iter(
        "sign PUT (+ content-length/type, x-content-sha256)",
        300,
        sign("PUT", body),
    );
    let sample = r#"{"availabilityDomain":"Uocm:US-ASHBURN-AD-1","compartmentId":"ocid1.compartment.oc1..aaaa","definedTags":{},"displayName":"orders-rw","freeformTags":{},"hostnameLabel":null,"id":"ocid1.privateip.oc1.iad.abcd","ipAddress":"10.0.10.200","isPrimary":false,"subnetId":"ocid1.subnet.oc1.iad.aaaa","timeCreated":"2024-01-01T00:00:00.000Z","vnicId":"ocid1.vnic.oc1.iad.aaaa"}"#;
    let json_enc = per_iter("JSON encode UpdatePrivateIp body", 20_000, || {
        std::hint::black_box(
            serde_json::to_vec(&UpdateIpDetails {
                vnic_id: "ocid1.vnic.oc1.iad.aaaa".into(),
            })
            .unwrap(),
        );
    });
    let list = format!("[{sample}]");
    let json_dec = per_iter("JSON decode PrivateIp", 20_000, || {
        let p: PrivateIp = serde_json::from_str(sample).unwrap();
        std::hint::black_box(IpRecord::from(p));
    });
    let json_list = per_iter("JSON decode ListPrivateIps (1 item)", 20_000, || {
        let p: Vec<PrivateIp> = serde_json::from_str(&list).unwrap();
        std::hint::black_box(p);
    });
    let signing = sign_get * 3 + sign_put;
    let json = json_enc + json_dec * 3 + json_list;
    let total = signing + json;
    println!("client overhead per warm move (4 calls):");
    println!(
        "  signing                                            {:>10.1} µs",
        us(signing)
    );
    println!(
        "  JSON encode + decode                               {:>10.1} µs",
        us(json)
    );
    println!(
        "  total                                              {:>10.1} µs",
        us(total)
    );
    total
}

/// Part 2: warm moves against the simulator; (wall time, process CPU time) per move, each the
/// lowest batch mean of [`BATCHES`] batches of `n` moves.
async fn moves(env: &harness::Env, client: &OciClient, n: u32) -> (Duration, Duration) {
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..BATCHES {
        let start = Instant::now();
        let start_cpu = process_cpu();
        for i in 0..n {
            let node = if i % 2 == 0 { harness::I2 } else { harness::I1 };
            let a = client
                .ensure_assigned(&harness::to(harness::VIP, node))
                .await
                .unwrap();
            assert!(a.changed);
        }
        best.0 = best.0.min(start.elapsed() / n);
        best.1 = best.1.min((process_cpu() - start_cpu) / n);
    }
    assert!(env.core_calls().iter().all(|r| r.status == 200));
    best
}

fn main() {
    let overhead = client_overhead();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let env = harness::start(|_| {}).await;
        // Instance principal: calls are signed with an RSA-2048 session key, as in part 1.
        let client = OciClient::new(env.config(env.instance_principal(harness::I1)))
            .await
            .unwrap();
        // Warm up: resolve both nodes' VNICs, open connections.
        for node in [harness::I2, harness::I1] {
            client
                .ensure_assigned(&harness::to(harness::VIP, node))
                .await
                .unwrap();
        }
        env.sim.call_log().clear();
        let n = 20u32;
        let (per, per_cpu) = moves(&env, &client, n).await;
        let calls = env.core_calls().len() as u32 / (n * BATCHES);
        println!("-- warm moves through OciClient against pgvip-cloudsim on 127.0.0.1 (TLS) --");
        println!("calls per warm move                                  {calls:>10}");
        println!(
            "wall time per move                                 {:>10.1} µs",
            us(per)
        );
        println!(
            "CPU per move, client and simulator (one process)   {:>10.1} µs",
            us(per_cpu)
        );
        println!(
            "  client overhead (signing + JSON, part 1)         {:>10.1} µs",
            us(overhead)
        );
        println!(
            "  simulator (verify, state, JSON) + HTTP/TLS both ends + runtime {:>8.1} µs",
            us(per_cpu.saturating_sub(overhead))
        );

        let injected = Duration::from_millis(5);
        env.sim.faults().set_latency(None, injected);
        let (per, _) = moves(&env, &client, 6).await;
        let sim_latency = injected * calls;
        println!("-- same, with {injected:?} simulator latency injected per call --");
        println!(
            "wall time per move                                 {:>10.1} µs",
            us(per)
        );
        println!(
            "  injected simulator latency ({calls} × {injected:?})          {:>10.1} µs",
            us(sim_latency)
        );
        println!(
            "  client overhead (signing + JSON, part 1)         {:>10.1} µs",
            us(overhead)
        );
        println!(
            "  rest (simulator CPU, HTTP/TLS, scheduling)       {:>10.1} µs",
            us(per.saturating_sub(sim_latency + overhead))
        );
        env.sim.faults().set_latency(None, Duration::ZERO);
        env.sim.shutdown().await;
    });
}
