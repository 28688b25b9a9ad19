//! Test helpers: a minimal OCI request signer (written from the documented rules), an
//! HTTPS client trusting the simulator's CA, and simulator start-up with a test user.
#![allow(dead_code)]

pub mod aws;
pub mod netns;

use std::time::{Duration, SystemTime};

use base64::Engine;
use pgvip_cloudsim::inventory::{ApiUser, Permissions, WorkloadToken};
use pgvip_cloudsim::{keys, Inventory, Sim, SimConfig, SimHandle};
use reqwest::{Method, Response};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};

pub const USER: &str = "ocid1.user.oc1..tester";
pub const READONLY: &str = "ocid1.user.oc1..readonly";
pub const SA_TOKEN: &str = "k8s-sa-token-for-pgvip";
pub const WORKLOAD: &str = "workload:pgvip-system/pgvip-controller";
pub const VIP_ID: &str = "ocid1.privateip.oc1.iad.vip";
pub const N1: &str = "ocid1.vnic.oc1.iad.n1";
pub const N2: &str = "ocid1.vnic.oc1.iad.n2";
pub const N3: &str = "ocid1.vnic.oc1.iad.n3";
pub const I1: &str = "ocid1.instance.oc1.iad.n1";
pub const SUBNET_A: &str = "ocid1.subnet.oc1.iad.a";

/// Who signs: key id and private key.
#[derive(Clone)]
pub struct Signer {
    pub key_id: String,
    pub key: RsaPrivateKey,
}

/// Pre-generated keys (key generation is slow in unoptimised builds).
pub fn fixture_keys() -> Vec<String> {
    keys::split_pem_private_keys(include_str!("../fixtures/keys.pem"))
}

/// One fixed key for every test user.
pub fn user_key() -> RsaPrivateKey {
    keys::private_key_from_pem(&fixture_keys()[0]).unwrap()
}

pub fn api_signer(inv: &Inventory, user: &str) -> Signer {
    let key = user_key();
    let fp = keys::api_key_fingerprint(&key.to_public_key()).unwrap();
    Signer {
        key_id: format!("{}/{}/{}", inv.tenancy_id, user, fp),
        key,
    }
}

/// Inventory with two API users (full and read-less) and one workload token.
pub fn inventory() -> Inventory {
    let mut inv = Inventory::example();
    let public = keys::public_pem(&user_key().to_public_key()).unwrap();
    let fp = keys::api_key_fingerprint(&user_key().to_public_key()).unwrap();
    inv.users.push(ApiUser {
        user_id: USER.into(),
        fingerprint: fp.clone(),
        public_key_pem: public.clone(),
        permissions: Permissions::default(),
    });
    inv.users.push(ApiUser {
        user_id: READONLY.into(),
        fingerprint: fp,
        public_key_pem: public,
        permissions: Permissions {
            read: false,
            update: false,
        },
    });
    inv.workload_tokens.push(WorkloadToken {
        token: SA_TOKEN.into(),
        principal: WORKLOAD.into(),
        permissions: Permissions::default(),
    });
    inv
}

pub async fn start_with(f: impl FnOnce(&mut SimConfig)) -> (SimHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::new(inventory(), dir.path().join("ca.pem"));
    cfg.key_pool = fixture_keys()[1..].to_vec();
    f(&mut cfg);
    (Sim::start(cfg).await.unwrap(), dir)
}

pub fn client(sim: &SimHandle) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// How to sign (tests bend these to provoke 401s).
#[derive(Clone, Copy, Default)]
pub struct Bend {
    pub date_offset_secs: i64,
    pub wrong_body_hash: bool,
    pub skip_host: bool,
    pub flip_signature: bool,
}

/// Signs and sends a request; `url` is absolute.
pub async fn send(
    c: &reqwest::Client,
    s: &Signer,
    method: Method,
    url: &str,
    body: Option<&str>,
    extra: &[(&str, &str)],
    bend: Bend,
) -> Response {
    let u = reqwest::Url::parse(url).unwrap();
    let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let target = match u.query() {
        Some(q) => format!("{}?{}", u.path(), q),
        None => u.path().to_string(),
    };
    let t = if bend.date_offset_secs >= 0 {
        SystemTime::now() + Duration::from_secs(bend.date_offset_secs as u64)
    } else {
        SystemTime::now() - Duration::from_secs((-bend.date_offset_secs) as u64)
    };
    let date = httpdate::fmt_http_date(t);
    let mut headers: Vec<(String, String)> = vec![("date".into(), date), ("host".into(), host)];
    let with_body = matches!(method, Method::POST | Method::PUT);
    let body = body.unwrap_or("");
    if with_body {
        let mut hash =
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body.as_bytes()));
        if bend.wrong_body_hash {
            hash =
                base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"something else"));
        }
        headers.push(("content-length".into(), body.len().to_string()));
        headers.push(("content-type".into(), "application/json".into()));
        headers.push(("x-content-sha256".into(), hash));
    }
    let mut names: Vec<&str> = vec!["date", "(request-target)", "host"];
    if bend.skip_host {
        names.retain(|n| *n != "host");
    }
    if with_body {
        names.extend(["content-length", "content-type", "x-content-sha256"]);
    }
    let lines: Vec<String> = names
        .iter()
        .map(|n| match *n {
            "(request-target)" => format!(
                "(request-target): {} {}",
                method.as_str().to_lowercase(),
                target
            ),
            n => format!("{n}: {}", headers.iter().find(|(k, _)| k == n).unwrap().1),
        })
        .collect();
    let digest = Sha256::digest(lines.join("\n").as_bytes());
    let mut sig = s.key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
    if bend.flip_signature {
        sig[5] ^= 1;
    }
    let auth = format!(
        "Signature version=\"1\",keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{}\"",
        s.key_id,
        names.join(" "),
        base64::engine::general_purpose::STANDARD.encode(sig)
    );
    let mut req = c.request(method, u).header("authorization", auth);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    if with_body {
        req = req.body(body.to_string());
    }
    req.send().await.unwrap()
}

pub async fn get(c: &reqwest::Client, s: &Signer, url: &str) -> Response {
    send(c, s, Method::GET, url, None, &[], Bend::default()).await
}

/// Status, `opc-request-id`, `etag`, JSON body.
pub async fn parts(r: Response) -> (u16, String, Option<String>, serde_json::Value) {
    let status = r.status().as_u16();
    let rid = r
        .headers()
        .get("opc-request-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let etag = r
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, rid, etag, body)
}
