//! IMDS, instance-principal federation, OKE workload identity, and session-token expiry.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use pgvip_cloudsim::inventory::Permissions;
use pgvip_cloudsim::{keys, Operation};
use reqwest::Method;

fn session_key() -> rsa::RsaPrivateKey {
    keys::private_key_from_pem(&fixture_keys()[5]).unwrap()
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test]
async fn imds_serves_instance_vnics_and_identity() {
    let (sim, _dir) = start_with(|_| {}).await;
    let base = sim.imds_url(I1).unwrap().to_string();
    assert_eq!(sim.imds_addr(I1).map(|a| a.ip().is_loopback()), Some(true));
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{base}/opc/v2/instance/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().contains_key("opc-request-id"));
    let get = |path: &str| {
        c.get(format!("{base}{path}"))
            .header("authorization", "Bearer Oracle")
            .send()
    };
    let doc: serde_json::Value = get("/opc/v2/instance/")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["id"], I1);
    assert_eq!(doc["canonicalRegionName"], "us-ashburn-1");
    assert_eq!(doc["region"], "iad");
    assert_eq!(doc["compartmentId"], "ocid1.compartment.oc1..ocisim");
    assert_eq!(
        get("/opc/v2/instance/region")
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "iad"
    );
    let vnics: serde_json::Value = get("/opc/v2/vnics/").await.unwrap().json().await.unwrap();
    assert_eq!(vnics[0]["vnicId"], N1);
    assert_eq!(vnics[0]["privateIp"], "10.0.10.11");
    assert_eq!(vnics[0]["subnetCidrBlock"], "10.0.10.0/24");
    let cert = get("/opc/v2/identity/cert.pem")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = get("/opc/v2/identity/key.pem")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let inter = get("/opc/v2/identity/intermediate.pem")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = sim.identity(I1).unwrap();
    assert_eq!(cert, id.cert_pem);
    assert!(
        cert.starts_with("-----BEGIN CERTIFICATE-----")
            && inter.starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(
        keys::private_key_from_pem(&key).unwrap().to_public_key(),
        id.public_key
    );
    // The subject names the instance and the tenancy in OUs, as OCI's certificates do.
    let der = base64::engine::general_purpose::STANDARD
        .decode(pem_body(&cert))
        .unwrap();
    let text = String::from_utf8_lossy(&der);
    assert!(
        text.contains(&format!("opc-instance:{I1}"))
            && text.contains("opc-tenant:ocid1.tenancy.oc1..ocisim")
    );
    let r = c
        .get(format!("{base}/opc/v2/instance/"))
        .header("authorization", "Bearer Oracle")
        .header("x-forwarded-for", "1.2.3.4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    sim.shutdown().await;
}

async fn federate(
    sim: &pgvip_cloudsim::SimHandle,
    key_id_form: &str,
    tamper_fp: bool,
) -> (u16, serde_json::Value) {
    let id = sim.identity(I1).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(pem_body(&id.cert_pem))
        .unwrap();
    let mut fp = match key_id_form {
        "fed-x509" => keys::cert_sha1_fingerprint(&der).to_uppercase(),
        _ => keys::cert_sha256_fingerprint(&der),
    };
    if tamper_fp {
        fp.replace_range(0..2, "00");
    }
    let signer = Signer {
        key_id: format!("ocid1.tenancy.oc1..ocisim/{key_id_form}/{fp}"),
        key: keys::private_key_from_pem(&id.key_pem).unwrap(),
    };
    let public = keys::public_pem(&session_key().to_public_key()).unwrap();
    let body = serde_json::json!({
        "certificate": pem_body(&id.cert_pem),
        "publicKey": pem_body(&public),
        "intermediateCertificates": [intermediate(sim).await],
        "purpose": "DEFAULT",
        "fingerprintAlgorithm": "SHA256",
    })
    .to_string();
    let c = client(sim);
    let url = format!("{}/v1/x509", sim.federation_url());
    let (st, _, _, b) = parts(
        send(
            &c,
            &signer,
            Method::POST,
            &url,
            Some(&body),
            &[],
            Bend {
                skip_host: true,
                ..Default::default()
            },
        )
        .await,
    )
    .await;
    (st, b)
}

async fn intermediate(sim: &pgvip_cloudsim::SimHandle) -> String {
    let base = sim.imds_url(I1).unwrap();
    let pem = reqwest::Client::new()
        .get(format!("{base}/opc/v2/identity/intermediate.pem"))
        .header("authorization", "Bearer Oracle")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    pem_body(&pem)
}

#[tokio::test]
async fn instance_principal_token_is_usable_then_expires() {
    let (sim, _dir) = start_with(|cfg| cfg.token_ttl = Duration::from_secs(2)).await;
    let (st, body) = federate(&sim, "fed-x509-sha256", true).await;
    assert_eq!((st, body["code"].as_str()), (401, Some("NotAuthenticated")));
    let (st, body) = federate(&sim, "fed-x509", false).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = federate(&sim, "fed-x509-sha256", false).await;
    assert_eq!(st, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], I1);
    assert_eq!(claims["opc-tenant"], "ocid1.tenancy.oc1..ocisim");
    assert!(
        claims["jwk"].is_string()
            && claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap()
    );

    let c = client(&sim);
    let s = Signer {
        key_id: format!("ST${token}"),
        key: session_key(),
    };
    let url = format!("{}/20160918/instances/{I1}", sim.core_url());
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 200);
    // Signed with another key than the one bound in the token: refused.
    let wrong = Signer {
        key: user_key(),
        ..s.clone()
    };
    assert_eq!(parts(get(&c, &wrong, &url).await).await.0, 401);
    // The instance principal's permissions apply.
    sim.faults().set_permissions(
        I1,
        Permissions {
            read: false,
            update: false,
        },
    );
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 404);
    sim.faults().set_permissions(I1, Permissions::default());
    let log = sim.call_log().of(Operation::GetInstance);
    assert_eq!(log.last().unwrap().principal.as_deref(), Some(I1));
    // Expired after its TTL.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (st, _, _, b) = parts(get(&c, &s, &url).await).await;
    assert_eq!((st, b["code"].as_str()), (401, Some("NotAuthenticated")));
    sim.shutdown().await;
}

#[tokio::test]
async fn oke_workload_identity_exchange() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let url = format!("{}/resourcePrincipalSessionTokens", sim.proxymux_url());
    let pod_key = keys::public_pem(&session_key().to_public_key()).unwrap();
    let body = serde_json::json!({ "podKey": pod_key }).to_string();
    let r = c
        .post(&url)
        .header("authorization", "Bearer nope")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .post(&url)
        .header("authorization", format!("Bearer {SA_TOKEN}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().contains_key("opc-request-id"));
    let wrapped: String = r.json().await.unwrap();
    let inner: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(wrapped)
            .unwrap(),
    )
    .unwrap();
    let token = inner["token"].as_str().unwrap();
    assert!(token.starts_with("ST$"));
    let s = Signer {
        key_id: format!("ST${}", &token[3..]),
        key: session_key(),
    };
    let (st, _, _, _) =
        parts(get(&c, &s, &format!("{}/20160918/vnics/{N1}", sim.core_url())).await).await;
    assert_eq!(st, 200);
    assert_eq!(
        sim.call_log()
            .of(Operation::GetVnic)
            .last()
            .unwrap()
            .principal
            .as_deref(),
        Some(WORKLOAD)
    );
    sim.shutdown().await;
}
