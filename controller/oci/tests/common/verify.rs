//! Independent check of an OCI request signature, rebuilt from the request as received.

use axum::http::Method;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::{header_str, Incoming, Sim};

/// Verifies an OCI signature from the request as received.
pub fn verify_signature(
    sim: &Sim,
    req: &Incoming,
    federation_key: Option<&RsaPublicKey>,
) -> Result<String, String> {
    let &Incoming {
        method,
        uri,
        headers,
        body,
        ..
    } = req;
    let auth = header_str(headers, "authorization").ok_or("no authorization")?;
    let rest = auth
        .strip_prefix("Signature ")
        .ok_or("not a Signature scheme")?;
    let mut params = HashMap::new();
    for part in rest.split("\",") {
        let (k, v) = part.split_once("=\"").ok_or("bad param")?;
        params.insert(k.to_string(), v.trim_end_matches('"').to_string());
    }
    if params.get("version").map(String::as_str) != Some("1")
        || params.get("algorithm").map(String::as_str) != Some("rsa-sha256")
    {
        return Err("bad version/algorithm".into());
    }
    let key_id = params.get("keyId").ok_or("no keyId")?.clone();
    let names: Vec<&str> = params
        .get("headers")
        .ok_or("no headers")?
        .split(' ')
        .collect();
    let needs_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
    for required in ["date", "(request-target)"] {
        if !names.contains(&required) {
            return Err(format!("{required} not signed"));
        }
    }
    if federation_key.is_none() && !names.contains(&"host") {
        return Err("host not signed".into());
    }
    if needs_body {
        for required in ["content-length", "content-type", "x-content-sha256"] {
            if !names.contains(&required) {
                return Err(format!("{required} not signed"));
            }
        }
        let sha = header_str(headers, "x-content-sha256").unwrap_or("");
        if sha != B64.encode(Sha256::digest(body)) {
            return Err("x-content-sha256 does not match the body".into());
        }
        let len = header_str(headers, "content-length").unwrap_or("");
        if len != body.len().to_string() {
            return Err("content-length does not match the body".into());
        }
    }
    let date = header_str(headers, "date").ok_or("no date")?;
    let t = httpdate::parse_http_date(date).map_err(|_| "bad date")?;
    let skew = SystemTime::now()
        .duration_since(t)
        .unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(300) {
        return Err("clock skew".into());
    }
    let mut lines = Vec::new();
    for n in &names {
        let v = if *n == "(request-target)" {
            format!(
                "{} {}",
                method.as_str().to_lowercase(),
                uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
            )
        } else {
            header_str(headers, n)
                .ok_or(format!("signed header {n} missing"))?
                .to_string()
        };
        lines.push(format!("{n}: {v}"));
    }
    let signing = lines.join("\n");
    let public = match federation_key {
        Some(k) => k.clone(),
        None => sim
            .keys
            .get(&key_id)
            .cloned()
            .ok_or(format!("unknown keyId {}", &key_id[..key_id.len().min(20)]))?,
    };
    let sig = B64
        .decode(params.get("signature").ok_or("no signature")?)
        .map_err(|_| "sig not base64")?;
    public
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(signing.as_bytes()),
            &sig,
        )
        .map_err(|_| "signature does not verify".to_string())?;
    Ok(key_id)
}
