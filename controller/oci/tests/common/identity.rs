//! The stub's identity endpoints: X.509 federation (instance principal) and the OKE proxymux.

use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::RsaPublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{err, header_str, make_jwt, now_secs, ok_json, verify_signature, Incoming, Sim, LEAF};

pub(super) fn federation(s: &mut Sim, req: &Incoming) -> Response {
    let &Incoming { body, rid, .. } = req;
    use x509_cert::der::{DecodePem, Encode};
    let leaf = x509_cert::Certificate::from_pem(LEAF.as_bytes()).unwrap();
    let spki = leaf
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    let leaf_pub = RsaPublicKey::from_public_key_der(&spki).unwrap();
    let key_id = match verify_signature(s, req, Some(&leaf_pub)) {
        Ok(k) => k,
        Err(e) => return err(401, "NotAuthenticated", &e, rid),
    };
    let fp = Sha256::digest(leaf.to_der().unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    if key_id != format!("ocid1.tenancy.oc1..tenancytest/fed-x509-sha256/{fp}") {
        return err(401, "NotAuthenticated", "bad federation keyId", rid);
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v["certificate"].as_str().map(|c| c.contains("BEGIN")) != Some(false)
        || v["purpose"] != "DEFAULT"
        || v["fingerprintAlgorithm"] != "SHA256"
    {
        return err(400, "InvalidParameter", "bad federation body", rid);
    }
    let der = B64
        .decode(v["publicKey"].as_str().unwrap_or(""))
        .unwrap_or_default();
    let Ok(session) = RsaPublicKey::from_public_key_der(&der) else {
        return err(400, "InvalidParameter", "bad publicKey", rid);
    };
    s.issued += 1;
    let now = now_secs();
    let jwt = make_jwt(now, now + s.token_lifetime, s.issued);
    s.keys.insert(format!("ST${jwt}"), session);
    ok_json(json!({"token": jwt}), None, rid)
}

pub(super) fn proxymux(s: &mut Sim, req: &Incoming) -> Response {
    let &Incoming {
        headers, body, rid, ..
    } = req;
    if header_str(headers, "authorization") != Some(&format!("Bearer {}", s.sa_token)) {
        return err(401, "NotAuthenticated", "bad service-account token", rid);
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Ok(session) = RsaPublicKey::from_public_key_pem(v["podKey"].as_str().unwrap_or("")) else {
        return err(400, "InvalidParameter", "bad podKey", rid);
    };
    s.issued += 1;
    let now = now_secs();
    let jwt = make_jwt(now, now + s.token_lifetime, s.issued);
    s.keys.insert(format!("ST${jwt}"), session);
    let inner = B64.encode(json!({"token": format!("ST${jwt}")}).to_string());
    format!("\"{inner}\"").into_response()
}
