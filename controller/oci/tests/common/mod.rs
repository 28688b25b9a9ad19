//! A small in-test OCI stub on 127.0.0.1 (HTTP or HTTPS with its own CA).
//!
//! It keeps instances, VNIC attachments, VNICs and private IPs with etags, verifies every
//! request's signature independently of the client's signer (rebuilding the signing string
//! from the request as received), serves IMDS, federation and the OKE proxymux, and injects
//! faults (status codes, Retry-After, delays) on matching requests.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use pgvip_oci::{AuthConfig, OciConfig};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const DOC_KEY: &str = include_str!("../fixtures/oci_doc_key.pem");
pub const SESSION_KEY: &str = include_str!("../fixtures/session_key_2048.pem");
pub const LEAF: &str = include_str!("../fixtures/identity_leaf.pem");
pub const LEAF_KEY: &str = include_str!("../fixtures/identity_leaf_key.pem");
pub const INTER: &str = include_str!("../fixtures/identity_intermediate.pem");
/// Fingerprint of [`DOC_KEY`].
pub const DOC_KEY_FINGERPRINT: &str = "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";
pub const API_KEY_ID: &str =
    "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7";
pub const COMPARTMENT: &str = "ocid1.compartment.oc1..c";
pub const SUBNET_DB: &str = "ocid1.subnet.oc1.phx.db";
pub const SUBNET_NODES: &str = "ocid1.subnet.oc1.phx.nodes";

/// A fault to inject on the next `times` matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_contains: String,
    pub status: u16,
    pub code: String,
    pub retry_after: Option<u64>,
    pub delay: Option<Duration>,
    pub times: usize,
}

impl Fault {
    pub fn status(
        method: Option<Method>,
        path: &str,
        status: u16,
        code: &str,
        times: usize,
    ) -> Self {
        Fault {
            method,
            path_contains: path.into(),
            status,
            code: code.into(),
            retry_after: None,
            delay: None,
            times,
        }
    }
    /// `status` with OCI error `code` on the next `times` updates (`PUT`) of a private IP.
    pub fn put_ip(status: u16, code: &str, times: usize) -> Self {
        Fault::status(Some(Method::PUT), "/privateIps/", status, code, times)
    }
    pub fn delay(path: &str, delay: Duration, times: usize) -> Self {
        Fault {
            method: None,
            path_contains: path.into(),
            status: 0,
            code: String::new(),
            retry_after: None,
            delay: Some(delay),
            times,
        }
    }
}

#[derive(Debug, Clone)]
pub struct IpObj {
    pub id: String,
    pub vnic_id: Option<String>,
    pub ip: String,
    pub subnet: String,
    pub primary: bool,
    pub etag: u64,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub status: u16,
}

/// (attachment id, instance, vnic, subnet hint, lifecycle state)
pub type Attachment = (String, String, Option<String>, Option<String>, String);

#[derive(Default)]
pub struct Sim {
    pub instances: HashMap<String, String>,
    /// (attachment id, instance, vnic, subnet hint, state)
    pub attachments: Vec<Attachment>,
    pub vnics: HashMap<String, String>,
    /// subnet → address prefix ("10.0.1." or "fd00:1::")
    pub subnets: HashMap<String, String>,
    pub ips: HashMap<String, IpObj>,
    pub retry_tokens: HashMap<String, String>,
    pub faults: VecDeque<Fault>,
    pub log: Vec<Logged>,
    pub page_size: usize,
    pub keys: HashMap<String, RsaPublicKey>,
    pub token_lifetime: u64,
    pub issued: usize,
    pub sa_token: String,
    pub seq: usize,
    pub deny_write_on_vnics: HashSet<String>,
}

pub type Shared = Arc<Mutex<Sim>>;

/// One request as the stub received it, and the `opc-request-id` its answer carries.
pub struct Incoming<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub rid: &'a str,
}

/// A request header as text.
pub fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

mod identity;
mod tls;
use identity::{federation, proxymux};
mod verify;
use tls::{tls_listener, tls_material};
pub use verify::verify_signature;

/// A running stub.
pub struct Stub {
    pub sim: Shared,
    pub addr: SocketAddr,
    pub url: String,
    pub ca_pem: Option<String>,
}

impl Stub {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.sim.lock().unwrap()
    }
    pub fn requests(&self, method: &str, path_contains: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.method.as_str() == method && l.path_and_query.contains(path_contains))
            .count()
    }
    pub fn fault(&self, f: Fault) {
        self.lock().faults.push_back(f);
    }
    /// The first logged request matching `pred` (panics if there is none).
    pub fn first_logged(&self, pred: impl Fn(&Logged) -> bool) -> Logged {
        self.lock().log.iter().find(|l| pred(l)).cloned().unwrap()
    }
    /// The last logged request matching `pred` (panics if there is none).
    pub fn last_logged(&self, pred: impl Fn(&Logged) -> bool) -> Logged {
        self.lock()
            .log
            .iter()
            .rev()
            .find(|l| pred(l))
            .cloned()
            .unwrap()
    }
}

/// An API-key config for the stub's user, signing with `key_path` and presenting
/// `fingerprint`, with fast backoff and no client-side rate limit to speak of.
pub fn api_key_config(stub: &Stub, key_path: PathBuf, fingerprint: &str) -> OciConfig {
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
    cfg.extra_ca_pem = stub.ca_pem.clone().map(String::into_bytes);
    cfg.backoff_base = Duration::from_millis(10);
    cfg.rate_limit_per_sec = 1000.0;
    cfg.burst = 1000;
    cfg
}

/// Writes `pem` to `name` in `dir`, returning its path.
pub fn write_key(dir: &tempfile::TempDir, name: &str, pem: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// Two nodes: node-a (VNICs a-nodes in SUBNET_NODES and a-db in SUBNET_DB), node-b (b-db).
pub fn standard_world() -> Sim {
    let mut s = Sim {
        page_size: 100,
        token_lifetime: 1200,
        sa_token: "sa-token-1".into(),
        ..Default::default()
    };
    s.instances
        .insert("ocid1.instance.oc1.phx.a".into(), COMPARTMENT.into());
    s.instances
        .insert("ocid1.instance.oc1.phx.b".into(), COMPARTMENT.into());
    s.subnets.insert(SUBNET_DB.into(), "10.0.1.".into());
    s.subnets.insert(SUBNET_NODES.into(), "10.0.0.".into());
    s.vnics
        .insert("ocid1.vnic.a-nodes".into(), SUBNET_NODES.into());
    s.vnics.insert("ocid1.vnic.a-db".into(), SUBNET_DB.into());
    s.vnics.insert("ocid1.vnic.b-db".into(), SUBNET_DB.into());
    for (id, node, vnic, hint, state) in [
        (
            "att-a0",
            "a",
            Some("a-nodes"),
            Some(SUBNET_NODES),
            "ATTACHED",
        ),
        ("att-a1", "a", Some("a-db"), None, "ATTACHED"),
        ("att-b1", "b", Some("b-db"), Some(SUBNET_DB), "ATTACHED"),
        ("att-b2", "b", None, None, "ATTACHING"),
    ] {
        s.attachments.push((
            id.into(),
            format!("ocid1.instance.oc1.phx.{node}"),
            vnic.map(|v| format!("ocid1.vnic.{v}")),
            hint.map(str::to_string),
            state.into(),
        ));
    }
    // Primary IPs of the DB-subnet VNICs.
    for (id, vnic, ip) in [
        (
            "ocid1.privateip.a-db-primary",
            "ocid1.vnic.a-db",
            "10.0.1.10",
        ),
        (
            "ocid1.privateip.b-db-primary",
            "ocid1.vnic.b-db",
            "10.0.1.11",
        ),
    ] {
        s.ips.insert(
            id.into(),
            IpObj {
                id: id.into(),
                vnic_id: Some(vnic.into()),
                ip: ip.into(),
                subnet: SUBNET_DB.into(),
                primary: true,
                etag: 1,
            },
        );
    }
    let key = RsaPrivateKey::from_pkcs1_pem_compat(DOC_KEY);
    s.keys.insert(API_KEY_ID.into(), key.to_public_key());
    s
}

trait Pkcs1Compat {
    fn from_pkcs1_pem_compat(pem: &str) -> RsaPrivateKey;
}
impl Pkcs1Compat for RsaPrivateKey {
    fn from_pkcs1_pem_compat(pem: &str) -> RsaPrivateKey {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        RsaPrivateKey::from_pkcs1_pem(pem).unwrap()
    }
}

pub fn make_jwt(iat: u64, exp: u64, n: usize) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
    let p = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat},"exp":{exp},"jti":"{n}"}}"#));
    format!("{h}.{p}.c2ln")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn err(status: u16, code: &str, message: &str, rid: &str) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response();
    r.headers_mut()
        .insert("opc-request-id", rid.parse().unwrap());
    r
}

fn ok_json(v: Value, etag: Option<u64>, rid: &str) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut()
        .insert("opc-request-id", rid.parse().unwrap());
    if let Some(e) = etag {
        r.headers_mut()
            .insert("etag", format!("etag-{e}").parse().unwrap());
    }
    r
}

pub async fn start(sim: Sim, tls: bool) -> Stub {
    let shared: Shared = Arc::new(Mutex::new(sim));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    if tls {
        let (ca_pem, acceptor) = tls_material();
        let listener = tls_listener::TlsListener { tcp, acceptor };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Stub {
            sim: shared,
            addr,
            url: format!("https://127.0.0.1:{}", addr.port()),
            ca_pem: Some(ca_pem),
        }
    } else {
        tokio::spawn(async move { axum::serve(tcp, app).await.unwrap() });
        Stub {
            sim: shared,
            addr,
            url: format!("http://127.0.0.1:{}", addr.port()),
            ca_pem: None,
        }
    }
}

async fn handle(
    State(sim): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    // Fault injection first.
    let fault = {
        let mut s = sim.lock().unwrap();
        let idx = s.faults.iter().position(|f| {
            f.times > 0
                && pq.contains(&f.path_contains)
                && f.method.as_ref().is_none_or(|m| *m == method)
        });
        idx.map(|i| {
            s.faults[i].times -= 1;
            s.faults[i].clone()
        })
    };
    if let Some(f) = &fault {
        if let Some(d) = f.delay {
            tokio::time::sleep(d).await;
        }
    }
    let resp = {
        let mut s = sim.lock().unwrap();
        s.seq += 1;
        let rid = format!("rid-{}", s.seq);
        let resp = match fault.filter(|f| f.status != 0) {
            Some(f) => {
                let mut r = err(f.status, &f.code, "injected", &rid);
                if let Some(ra) = f.retry_after {
                    r.headers_mut()
                        .insert("retry-after", ra.to_string().parse().unwrap());
                }
                r
            }
            None => {
                let req = Incoming {
                    method: &method,
                    uri: &uri,
                    headers: &headers,
                    body: &body,
                    rid: &rid,
                };
                route(&mut s, &req)
            }
        };
        s.log.push(Logged {
            method: method.clone(),
            path_and_query: pq,
            headers: headers.clone(),
            body: body.to_vec(),
            status: resp.status().as_u16(),
        });
        resp
    };
    resp
}

fn query(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn ip_json(o: &IpObj) -> Value {
    json!({"id": o.id, "vnicId": o.vnic_id, "ipAddress": o.ip, "subnetId": o.subnet, "isPrimary": o.primary,
           "compartmentId": COMPARTMENT, "displayName": "x", "timeCreated": "2024-01-01T00:00:00.000Z", "lifecycleState": "AVAILABLE"})
}

fn route(s: &mut Sim, req: &Incoming) -> Response {
    let &Incoming {
        method,
        uri,
        headers,
        body,
        rid,
    } = req;
    let path = uri.path().to_string();
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // IMDS.
    if seg.first() == Some(&"opc") {
        if header_str(headers, "authorization") != Some("Bearer Oracle") {
            return err(401, "NotAuthenticated", "IMDS v2 needs Bearer Oracle", rid);
        }
        return match path.as_str() {
            "/opc/v2/identity/cert.pem" => LEAF.into_response(),
            "/opc/v2/identity/key.pem" => LEAF_KEY.into_response(),
            "/opc/v2/identity/intermediate.pem" => INTER.into_response(),
            "/opc/v2/instance/" => axum::Json(json!({"id": "ocid1.instance.oc1.phx.a", "region": "phx", "canonicalRegionName": "us-phoenix-1",
                "regionInfo": {"realmKey": "oc1", "realmDomainComponent": "oraclecloud.com", "regionIdentifier": "us-phoenix-1"}})).into_response(),
            _ => err(404, "NotFound", "no such metadata", rid),
        };
    }
    if path == "/v1/x509" && *method == Method::POST {
        return federation(s, req);
    }
    if path == "/resourcePrincipalSessionTokens" && *method == Method::POST {
        return proxymux(s, req);
    }
    if let Err(e) = verify_signature(s, req, None) {
        return err(401, "NotAuthenticated", &e, rid);
    }
    let q = query(uri);
    match (method.clone(), seg.as_slice()) {
        (Method::GET, ["20160918", "instances", id]) => match s.instances.get(*id) {
            Some(c) => ok_json(
                json!({"id": id, "compartmentId": c, "lifecycleState": "RUNNING", "displayName": "node"}),
                Some(1),
                rid,
            ),
            None => err(404, "NotAuthorizedOrNotFound", "instance not found", rid),
        },
        (Method::GET, ["20160918", "vnicAttachments"]) => {
            let inst = q.get("instanceId").cloned().unwrap_or_default();
            let all: Vec<Value> = s.attachments.iter().filter(|a| a.1 == inst).map(|a| json!({"id": a.0, "instanceId": a.1, "vnicId": a.2, "subnetId": a.3, "lifecycleState": a.4, "compartmentId": COMPARTMENT})).collect();
            let start: usize = q
                .get("page")
                .and_then(|p| p.strip_prefix("p").and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            let end = (start + s.page_size).min(all.len());
            let mut r = ok_json(Value::Array(all[start.min(end)..end].to_vec()), None, rid);
            if end < all.len() {
                r.headers_mut()
                    .insert("opc-next-page", format!("p{end}").parse().unwrap());
            }
            r
        }
        (Method::GET, ["20160918", "vnics", id]) => match s.vnics.get(*id) {
            Some(sub) => ok_json(
                json!({"id": id, "subnetId": sub, "isPrimary": false, "lifecycleState": "AVAILABLE"}),
                Some(1),
                rid,
            ),
            None => err(404, "NotAuthorizedOrNotFound", "vnic not found", rid),
        },
        (Method::GET, ["20160918", coll]) if *coll == "privateIps" || *coll == "ipv6" => {
            let ip = q.get("ipAddress").cloned().unwrap_or_default();
            let sub = q.get("subnetId").cloned().unwrap_or_default();
            let list: Vec<Value> = s
                .ips
                .values()
                .filter(|o| o.ip == ip && o.subnet == sub)
                .map(ip_json)
                .collect();
            ok_json(Value::Array(list), None, rid)
        }
        (Method::GET, ["20160918", _, id]) => match s.ips.get(*id) {
            Some(o) => ok_json(ip_json(o), Some(o.etag), rid),
            None => err(404, "NotAuthorizedOrNotFound", "ip not found", rid),
        },
        (Method::PUT, ["20160918", _, id]) => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(vnic) = v.get("vnicId").and_then(Value::as_str).map(str::to_string) else {
                return err(400, "InvalidParameter", "vnicId missing", rid);
            };
            if s.deny_write_on_vnics.contains(&vnic) || !s.vnics.contains_key(&vnic) {
                return err(404, "NotAuthorizedOrNotFound", "not authorized", rid);
            }
            let Some(o) = s.ips.get_mut(*id) else {
                return err(404, "NotAuthorizedOrNotFound", "ip not found", rid);
            };
            if let Some(m) = header_str(headers, "if-match") {
                if m != format!("etag-{}", o.etag) {
                    return err(412, "NoEtagMatch", "etag mismatch", rid);
                }
            }
            if o.primary {
                return err(400, "InvalidParameter", "cannot move a primary IP", rid);
            }
            o.vnic_id = Some(vnic);
            o.etag += 1;
            ok_json(ip_json(o), Some(o.etag), rid)
        }
        (Method::POST, ["20160918", coll]) if *coll == "privateIps" || *coll == "ipv6" => {
            let Some(token) = header_str(headers, "opc-retry-token").map(str::to_string) else {
                return err(
                    400,
                    "InvalidParameter",
                    "retry token required by this stub",
                    rid,
                );
            };
            if let Some(id) = s.retry_tokens.get(&token) {
                let o = s.ips[id].clone();
                return ok_json(ip_json(&o), Some(o.etag), rid);
            }
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let vnic = v["vnicId"].as_str().unwrap_or("").to_string();
            let ip = v["ipAddress"].as_str().unwrap_or("").to_string();
            let Some(subnet) = s.vnics.get(&vnic).cloned() else {
                return err(404, "NotAuthorizedOrNotFound", "vnic not found", rid);
            };
            if s.deny_write_on_vnics.contains(&vnic) {
                return err(404, "NotAuthorizedOrNotFound", "not authorized", rid);
            }
            if !ip.starts_with(s.subnets[&subnet].as_str()) {
                return err(
                    400,
                    "InvalidParameter",
                    &format!("IP address {ip} is not within the CIDR block of subnet {subnet}"),
                    rid,
                );
            }
            if s.ips.values().any(|o| o.ip == ip && o.subnet == subnet) {
                return err(409, "Conflict", "address already in use", rid);
            }
            let id = format!(
                "ocid1.{}.sim.{}",
                if *coll == "ipv6" { "ipv6" } else { "privateip" },
                s.seq
            );
            let o = IpObj {
                id: id.clone(),
                vnic_id: Some(vnic),
                ip,
                subnet,
                primary: false,
                etag: 1,
            };
            s.ips.insert(id.clone(), o.clone());
            s.retry_tokens.insert(token, id);
            ok_json(ip_json(&o), Some(o.etag), rid)
        }
        (Method::DELETE, ["20160918", _, id]) => match s.ips.remove(*id) {
            Some(_) => {
                let mut r = StatusCode::NO_CONTENT.into_response();
                r.headers_mut()
                    .insert("opc-request-id", rid.parse().unwrap());
                r
            }
            None => err(404, "NotAuthorizedOrNotFound", "ip not found", rid),
        },
        _ => err(404, "NotFound", "no such route", rid),
    }
}

/// The test session key (2048 bits, loaded instead of generated: keygen is slow in debug).
pub fn fixed_keygen() -> pgvip_oci::auth::instance_principal::KeyGen {
    Arc::new(|| Ok(RsaPrivateKey::from_pkcs1_pem_compat(SESSION_KEY)))
}
