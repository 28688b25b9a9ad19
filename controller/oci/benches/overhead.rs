//! The client's own cost per move, apart from network latency: RSA signing, JSON encode/decode,
//! and a whole `ensure_assigned` (move) against the in-process loopback stub.
//!
//! Run: `cargo bench -p pgvip-oci --bench overhead` (plain `Instant` loops, no harness).

#[path = "../tests/common/mod.rs"]
mod common;

use pgvip_oci::keys::parse_private_key_pem;
use pgvip_oci::model::{IpRecord, PrivateIp, UpdateIpDetails};
use pgvip_oci::signer::{format_date, sign_request, HeaderSet};
use pgvip_oci::{AuthConfig, MoveRequest, OciClient, OciConfig};
use std::time::{Duration, Instant, SystemTime};

fn per_iter(label: &str, n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..(n / 10).max(1) {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let d = start.elapsed() / n;
    println!("{label:<48} {:>10.1} µs", d.as_secs_f64() * 1e6);
    d
}

fn main() {
    let key2048 = parse_private_key_pem(common::SESSION_KEY, None).unwrap();
    let url = url::Url::parse(
        "https://iaas.us-phoenix-1.oraclecloud.com/20160918/privateIps/ocid1.privateip.oc1.phx.abc",
    )
    .unwrap();
    let body = serde_json::to_vec(&UpdateIpDetails {
        vnic_id: "ocid1.vnic.oc1.phx.abcdefghijklmnopqrstuvwxyz0123456789".into(),
    })
    .unwrap();
    let date = format_date(SystemTime::now());
    let key_id = "ST$eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3MDAwMDAwMDB9.sig";

    println!("-- per-operation CPU cost (RSA-2048 session key) --");
    let sign_get = per_iter("sign GET (date, request-target, host)", 200, || {
        std::hint::black_box(
            sign_request(
                key_id,
                &key2048,
                "GET",
                &url,
                b"",
                &date,
                HeaderSet::Service,
            )
            .unwrap(),
        );
    });
    let sign_put = per_iter("sign PUT (+ body hash headers)", 200, || {
        std::hint::black_box(
            sign_request(
                key_id,
                &key2048,
                "PUT",
                &url,
                &body,
                &date,
                HeaderSet::Service,
            )
            .unwrap(),
        );
    });
    {
        use rsa::Pkcs1v15Sign;
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(b"date: x\n(request-target): get /\nhost: h");
        per_iter("  (raw RSA-2048 PKCS#1 v1.5, no blinding)", 200, || {
            std::hint::black_box(
                key2048
                    .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
                    .unwrap(),
            );
        });
    }
    let sample = r#"{"availabilityDomain":"Uocm:PHX-AD-1","compartmentId":"ocid1.compartment.oc1..aaaa","definedTags":{},"displayName":"orders-rw","freeformTags":{},"hostnameLabel":null,"id":"ocid1.privateip.oc1.phx.abcd","ipAddress":"10.0.1.100","isPrimary":false,"subnetId":"ocid1.subnet.oc1.phx.aaaa","timeCreated":"2024-01-01T00:00:00.000Z","vnicId":"ocid1.vnic.oc1.phx.aaaa"}"#;
    let json_enc = per_iter("JSON encode UpdatePrivateIp body", 20_000, || {
        std::hint::black_box(
            serde_json::to_vec(&UpdateIpDetails {
                vnic_id: "ocid1.vnic.oc1.phx.aaaa".into(),
            })
            .unwrap(),
        );
    });
    let json_dec = per_iter("JSON decode PrivateIp", 20_000, || {
        let p: PrivateIp = serde_json::from_str(sample).unwrap();
        std::hint::black_box(IpRecord::from(p));
    });

    // A warm move (VNIC cached) is: ListPrivateIps, GetPrivateIp, UpdatePrivateIp, GetPrivateIp.
    let calls = 4u32;
    let est = (sign_get * 3 + sign_put) + json_enc + json_dec * calls;
    println!(
        "estimated client CPU per warm move ({calls} calls)        {:>10.1} µs",
        est.as_secs_f64() * 1e6
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let stub = common::start(common::standard_world(), false).await;
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("key.pem");
        std::fs::write(&key_path, common::DOC_KEY).unwrap();
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
        cfg.rate_limit_per_sec = 1e6;
        cfg.burst = 1_000_000;
        let client = OciClient::new(cfg).await.unwrap();
        let req = |node: &str| MoveRequest {
            ip: "10.0.1.100".parse().unwrap(),
            subnet_id: common::SUBNET_DB.into(),
            provider_id: format!("ocid1.instance.oc1.phx.{node}"),
            display_name: None,
        };
        client.ensure_assigned(&req("a")).await.unwrap();
        client.ensure_assigned(&req("b")).await.unwrap();
        let n = 100u32;
        let start = Instant::now();
        for i in 0..n {
            let node = if i % 2 == 0 { "a" } else { "b" };
            let a = client.ensure_assigned(&req(node)).await.unwrap();
            assert!(a.changed);
        }
        let per_move = start.elapsed() / n;
        println!(
            "-- end to end on loopback (stub verifies every signature with a 1024-bit key) --"
        );
        println!(
            "warm move (4 calls) incl. loopback HTTP + stub  {:>10.1} µs",
            per_move.as_secs_f64() * 1e6
        );
    });
}
