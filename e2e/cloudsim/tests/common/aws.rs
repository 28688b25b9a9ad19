//! AWS test helpers: a SigV4 request signer for the EC2 Query API (its canonical request is
//! built here, independently of the simulator's verifier; only the HMAC key derivation,
//! checked against AWS's documented vectors in the unit tests, is shared), an HTTPS client
//! trusting the simulator's CA, start-up with test principals, and XML readers for the
//! fields pgvip reads.

use std::time::{Duration, SystemTime};

use pgvip_cloudsim::aws::inventory::example_instance;
use pgvip_cloudsim::aws::sigv4::{hex, hmac_sha256, signing_key};
use pgvip_cloudsim::aws::{AwsInventory, AwsSim, AwsSimConfig, AwsSimHandle, IamPrincipal};
use sha2::{Digest, Sha256};

/// Full-rights principal.
pub const PGVIP: Creds = Creds {
    access_key_id: "AKIAPGVIPTEST0000001",
    secret: "pgvip-secret-key/0000000000000000000000",
    token: None,
};
/// Describe-only principal.
pub const READER: Creds = Creds {
    access_key_id: "AKIAPGVIPREADER00001",
    secret: "reader-secret-key/000000000000000000000",
    token: None,
};
/// Instance 1's role (temporary credentials, also served by its IMDS).
pub const NODE_ROLE: Creds = Creds {
    access_key_id: "ASIAPGVIPNODE0000001",
    secret: "node-secret-key/00000000000000000000000",
    token: Some("node-session-token"),
};

/// Credentials a test signs with.
#[derive(Debug, Clone, Copy)]
pub struct Creds {
    pub access_key_id: &'static str,
    pub secret: &'static str,
    pub token: Option<&'static str>,
}

/// The example world plus the three principals above.
pub fn aws_inventory() -> AwsInventory {
    AwsInventory::example()
        .principal(IamPrincipal::user(
            "pgvip",
            PGVIP.access_key_id,
            PGVIP.secret,
        ))
        .principal(
            IamPrincipal::user("reader", READER.access_key_id, READER.secret)
                .allowing(&["ec2:Describe*"]),
        )
        .principal(
            IamPrincipal::user("node-role", NODE_ROLE.access_key_id, NODE_ROLE.secret)
                .with_token("node-session-token")
                .allowing(&["ec2:*"]),
        )
        .role(&example_instance(1), "node-role")
}

pub async fn start_aws(f: impl FnOnce(&mut AwsSimConfig)) -> AwsSimHandle {
    let mut cfg = AwsSimConfig::new(aws_inventory());
    f(&mut cfg);
    AwsSim::start(cfg).await.unwrap()
}

pub fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// How to sign (tests bend these to provoke refusals).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bend {
    pub date_offset_secs: i64,
    pub wrong_secret: bool,
    pub region: Option<&'static str>,
    pub no_token: bool,
    pub unsigned: bool,
}

fn amz_date(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The form body of `params` (Query protocol encoding).
pub fn form(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Signs `POST /` of `body` to `url` for region/service `ec2`; returns the headers to send.
pub fn sign(url: &str, body: &str, c: &Creds, region: &str, bend: Bend) -> Vec<(String, String)> {
    let u = reqwest::Url::parse(url).unwrap();
    let host = match u.port() {
        Some(p) => format!("{}:{p}", u.host_str().unwrap()),
        None => u.host_str().unwrap().to_string(),
    };
    let off = Duration::from_secs(bend.date_offset_secs.unsigned_abs());
    let t = if bend.date_offset_secs >= 0 {
        SystemTime::now() + off
    } else {
        SystemTime::now() - off
    };
    let date = amz_date(t);
    let ctype = "application/x-www-form-urlencoded; charset=utf-8";
    let mut headers = vec![
        ("content-type".to_string(), ctype.to_string()),
        ("host".to_string(), host),
        ("x-amz-date".to_string(), date.clone()),
    ];
    if let (Some(tok), false) = (c.token, bend.no_token) {
        headers.push(("x-amz-security-token".into(), tok.into()));
    }
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let creq = format!(
        "POST\n/\n\n{canonical_headers}\n{}\n{}",
        signed.join(";"),
        hex(&Sha256::digest(body.as_bytes()))
    );
    let day = &date[..8];
    let region = bend.region.unwrap_or(region);
    let scope = format!("{day}/{region}/ec2/aws4_request");
    let sts = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&Sha256::digest(creq.as_bytes()))
    );
    let secret = if bend.wrong_secret {
        "not-the-secret"
    } else {
        c.secret
    };
    let sig = hex(&hmac_sha256(
        &signing_key(secret, day, region, "ec2"),
        sts.as_bytes(),
    ));
    if !bend.unsigned {
        headers.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={sig}",
                c.access_key_id,
                signed.join(";")
            ),
        ));
    }
    headers.retain(|(k, _)| k != "host");
    headers
}

/// An EC2 answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: String,
}

impl Answer {
    /// The error code, for error answers.
    pub fn code(&self) -> Option<String> {
        let doc = roxmltree::Document::parse(&self.body).ok()?;
        let code = doc.descendants().find(|n| n.has_tag_name("Code"))?;
        code.text().map(String::from)
    }
    /// Status and code.
    pub fn outcome(&self) -> (u16, Option<String>) {
        (
            self.status,
            if self.status >= 400 {
                self.code()
            } else {
                None
            },
        )
    }
    /// ENIs of a Describe answer.
    pub fn enis(&self) -> Vec<Eni> {
        enis(&self.body)
    }
    /// Text of the first element named `tag`.
    pub fn text(&self, tag: &str) -> Option<String> {
        let doc = roxmltree::Document::parse(&self.body).ok()?;
        let n = doc.descendants().find(|n| n.tag_name().name() == tag)?;
        n.text().map(String::from)
    }
}

/// Sends a signed EC2 Query request.
pub async fn ec2(
    c: &reqwest::Client,
    url: &str,
    creds: &Creds,
    region: &str,
    params: &[(&str, &str)],
    bend: Bend,
) -> Answer {
    let mut all = vec![("Version", "2016-11-15")];
    all.extend_from_slice(params);
    let body = form(&all);
    let mut req = c.post(format!("{}/", url.trim_end_matches('/')));
    for (k, v) in sign(url, &body, creds, region, bend) {
        req = req.header(k, v);
    }
    let r = req.body(body).send().await.unwrap();
    let status = r.status().as_u16();
    let request_id = r
        .headers()
        .get("x-amzn-requestid")
        .map(|v| v.to_str().unwrap().to_string());
    Answer {
        status,
        request_id,
        body: r.text().await.unwrap(),
    }
}

/// The fields of an ENI pgvip reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Eni {
    pub id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub mac: String,
    pub private_ip: String,
    pub status: String,
    /// (attachmentId, instanceId, deviceIndex, status).
    pub attachment: Option<(String, String, String, String)>,
    /// (address, primary), in document order.
    pub addresses: Vec<(String, bool)>,
}

fn child_text(n: roxmltree::Node, tag: &str) -> String {
    n.children()
        .find(|c| c.tag_name().name() == tag)
        .and_then(|c| c.text())
        .unwrap_or_default()
        .to_string()
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.tag_name().name() == tag)
}

/// Parses `networkInterfaceSet/item`s.
pub fn enis(xml: &str) -> Vec<Eni> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let Some(set) = doc
        .descendants()
        .find(|n| n.tag_name().name() == "networkInterfaceSet")
    else {
        return vec![];
    };
    set.children()
        .filter(|n| n.tag_name().name() == "item")
        .map(|item| Eni {
            id: child_text(item, "networkInterfaceId"),
            subnet_id: child_text(item, "subnetId"),
            vpc_id: child_text(item, "vpcId"),
            availability_zone: child_text(item, "availabilityZone"),
            mac: child_text(item, "macAddress"),
            private_ip: child_text(item, "privateIpAddress"),
            status: child_text(item, "status"),
            attachment: child(item, "attachment").map(|a| {
                (
                    child_text(a, "attachmentId"),
                    child_text(a, "instanceId"),
                    child_text(a, "deviceIndex"),
                    child_text(a, "status"),
                )
            }),
            addresses: child(item, "privateIpAddressesSet")
                .map(|s| {
                    s.children()
                        .filter(|n| n.tag_name().name() == "item")
                        .map(|i| {
                            (
                                child_text(i, "privateIpAddress"),
                                child_text(i, "primary") == "true",
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// `item/privateIpAddress` texts under `assignedPrivateIpAddressesSet`.
pub fn assigned(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .find(|n| n.tag_name().name() == "assignedPrivateIpAddressesSet")
        .map(|s| {
            s.children()
                .filter(|n| n.tag_name().name() == "item")
                .map(|i| child_text(i, "privateIpAddress"))
                .collect()
        })
        .unwrap_or_default()
}
