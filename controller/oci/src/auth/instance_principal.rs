//! Instance principal: IMDS v2 identity certificates exchanged at the federation endpoint for
//! a session token.
//!
//! Data flow of one refresh: `GET {imds}/opc/v2/identity/{cert,key,intermediate}.pem`
//! (`Authorization: Bearer Oracle`) → tenancy from the leaf's subject `opc-tenant:<ocid>` →
//! fresh RSA-2048 session key → `POST {federation}/v1/x509` with the leaf certificate, the
//! session public key and the intermediates, signed by the leaf key as
//! `<tenancy>/fed-x509-sha256/<leaf SHA-256 fingerprint>` → `{"token": <jwt>}` → credentials
//! `ST$<jwt>` + session key, refreshed before the JWT's `exp` by the [`SessionCache`].

use futures::future::BoxFuture;
use reqwest::{Client, Method};
use rsa::RsaPrivateKey;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

use super::identity_call::{describe, send_with_retries};
use super::session::{Session, SessionProvider, SessionSource};
use super::PrincipalKind;
use crate::config::join;
use crate::error::OciError;
use crate::http::{header, signed_headers};
use crate::keys::{
    cert_sha256_fingerprint, parse_cert_pem, parse_private_key_pem, pem_body, public_key_base64,
};
use crate::signer::{format_date, sign_request, HeaderSet};

/// Produces session keys; replaceable in tests (RSA-2048 generation is slow in debug builds).
pub type KeyGen = Arc<dyn Fn() -> Result<RsaPrivateKey, OciError> + Send + Sync>;

/// The default generator: a fresh RSA-2048 key.
pub fn default_keygen() -> KeyGen {
    Arc::new(crate::keys::generate_session_key)
}

/// Generates a session key off the async threads.
pub(crate) async fn new_session_key(keygen: &KeyGen) -> Result<RsaPrivateKey, OciError> {
    let g = keygen.clone();
    tokio::task::spawn_blocking(move || g())
        .await
        .map_err(|e| OciError::auth(format!("session key generation panicked: {e}")))?
}

/// Facts from `GET /opc/v2/instance/`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMetadata {
    /// Instance OCID.
    #[serde(default)]
    pub id: Option<String>,
    /// Short or long region name.
    #[serde(default)]
    pub region: Option<String>,
    /// Canonical region identifier (`us-phoenix-1`).
    #[serde(default)]
    pub canonical_region_name: Option<String>,
    /// Realm facts.
    #[serde(default)]
    pub region_info: Option<RegionInfo>,
}

/// `regionInfo` of the instance metadata.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionInfo {
    /// Realm domain (`oraclecloud.com`).
    #[serde(default)]
    pub realm_domain_component: Option<String>,
    /// Region identifier.
    #[serde(default)]
    pub region_identifier: Option<String>,
}

impl InstanceMetadata {
    /// The region identifier to build endpoints with.
    pub fn region_id(&self) -> Option<String> {
        self.canonical_region_name
            .clone()
            .or_else(|| {
                self.region_info
                    .as_ref()
                    .and_then(|r| r.region_identifier.clone())
            })
            .or_else(|| self.region.clone())
    }

    /// The realm domain, when IMDS tells it.
    pub fn realm_domain(&self) -> Option<String> {
        self.region_info
            .as_ref()
            .and_then(|r| r.realm_domain_component.clone())
    }
}

/// `GET {imds}{path}` with `Authorization: Bearer Oracle`, retrying transient failures.
pub async fn imds_get(
    client: &Client,
    imds: &Url,
    path: &str,
    timeout: Duration,
) -> Result<Vec<u8>, OciError> {
    let resp = send_with_retries(
        client,
        Method::GET,
        &join(imds, path),
        None,
        timeout,
        || Ok(vec![header("authorization", "Bearer Oracle")?]),
        |failure| {
            OciError::auth(format!(
                "instance metadata {path} unavailable: {}",
                describe(&failure)
            ))
        },
    )
    .await?;
    Ok(resp.body)
}

/// Reads `/opc/v2/instance/`.
pub async fn fetch_instance_metadata(
    client: &Client,
    imds: &Url,
    timeout: Duration,
) -> Result<InstanceMetadata, OciError> {
    let body = imds_get(client, imds, "/opc/v2/instance/", timeout).await?;
    serde_json::from_slice(&body).map_err(|e| OciError::InvalidResponse {
        operation: "GetInstanceMetadata",
        message: e.to_string(),
        opc_request_id: None,
    })
}

/// The federation request body (pure).
pub fn federation_body(
    leaf_pem: &str,
    session_public_b64: &str,
    intermediates: &[String],
) -> serde_json::Value {
    serde_json::json!({
        "certificate": pem_body(leaf_pem),
        "publicKey": session_public_b64,
        "intermediateCertificates": intermediates.iter().map(|p| pem_body(p)).collect::<Vec<_>>(),
        "purpose": "DEFAULT",
        "fingerprintAlgorithm": "SHA256",
    })
}

/// The key id used to sign the federation call (pure).
pub fn federation_key_id(tenancy: &str, leaf_der: &[u8]) -> String {
    format!(
        "{tenancy}/fed-x509-sha256/{}",
        cert_sha256_fingerprint(leaf_der)
    )
}

/// Token exchange against IMDS + federation.
pub struct InstancePrincipalSource {
    imds_http: Client,
    fed_http: Client,
    imds: Url,
    federation: Url,
    timeout: Duration,
    keygen: KeyGen,
}

impl InstancePrincipalSource {
    /// `imds_http` must not use proxies; `fed_http` trusts the OCI roots (plus extra CAs).
    pub fn new(
        imds_http: Client,
        fed_http: Client,
        imds: Url,
        federation: Url,
        timeout: Duration,
        keygen: KeyGen,
    ) -> Self {
        InstancePrincipalSource {
            imds_http,
            fed_http,
            imds,
            federation,
            timeout,
            keygen,
        }
    }

    /// One identity document from IMDS, as text.
    async fn imds_text(&self, path: &str) -> Result<String, OciError> {
        let body = imds_get(&self.imds_http, &self.imds, path, self.timeout).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn exchange(&self) -> Result<Session, OciError> {
        let leaf_pem = self.imds_text("/opc/v2/identity/cert.pem").await?;
        let leaf_key_pem = self.imds_text("/opc/v2/identity/key.pem").await?;
        let inter_pem = self.imds_text("/opc/v2/identity/intermediate.pem").await?;
        let leaf = parse_cert_pem(&leaf_pem)?;
        let tenancy = leaf.tenancy_id.clone().ok_or_else(|| {
            OciError::auth("the instance identity certificate has no opc-tenant subject attribute")
        })?;
        let leaf_key = parse_private_key_pem(&leaf_key_pem, None)?;
        let session_key = new_session_key(&self.keygen).await?;
        let body = federation_body(&leaf_pem, &public_key_base64(&session_key)?, &[inter_pem]);
        let body = serde_json::to_vec(&body).map_err(|e| OciError::auth(e.to_string()))?;
        let key_id = federation_key_id(&tenancy, &leaf.der);
        let url = join(&self.federation, "/v1/x509");

        let sign = || {
            let signed = sign_request(
                &key_id,
                &leaf_key,
                "POST",
                &url,
                &body,
                &format_date(SystemTime::now()),
                HeaderSet::Federation,
            )?;
            signed_headers(&signed)
        };
        let resp = send_with_retries(
            &self.fed_http,
            Method::POST,
            &url,
            Some(&body),
            self.timeout,
            sign,
            |failure| OciError::Auth {
                message: format!(
                    "instance principal federation at {url} failed: {}; check that a dynamic group matches this instance and the clock is right",
                    describe(&failure)
                ),
                opc_request_id: failure.opc_request_id().map(str::to_string),
            },
        )
        .await?;
        #[derive(serde::Deserialize)]
        struct TokenBody {
            token: String,
        }
        let token: TokenBody =
            serde_json::from_slice(&resp.body).map_err(|e| OciError::InvalidResponse {
                operation: "FederateX509",
                message: format!("no token in federation response: {e}"),
                opc_request_id: resp.request_id(),
            })?;
        Session::from_token(&token.token, session_key)
    }
}

impl SessionSource for InstancePrincipalSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Session, OciError>> {
        Box::pin(self.exchange())
    }
    fn principal(&self) -> PrincipalKind {
        PrincipalKind::Instance
    }
}

/// Instance-principal [`KeyProvider`](super::KeyProvider).
pub type InstancePrincipalProvider = SessionProvider<InstancePrincipalSource>;

#[cfg(test)]
mod tests {
    use super::*;

    const LEAF: &str = include_str!("../../tests/fixtures/identity_leaf.pem");
    const INTER: &str = include_str!("../../tests/fixtures/identity_intermediate.pem");

    #[test]
    fn federation_request_shape() {
        let body = federation_body(LEAF, "UUJL", &[INTER.to_string()]);
        let cert = body["certificate"].as_str().unwrap();
        assert!(!cert.contains("BEGIN") && !cert.contains('\n'));
        assert_eq!(body["publicKey"], "UUJL");
        assert_eq!(
            body["intermediateCertificates"].as_array().unwrap().len(),
            1
        );
        assert_eq!(body["purpose"], "DEFAULT");
        assert_eq!(body["fingerprintAlgorithm"], "SHA256");
        let leaf = parse_cert_pem(LEAF).unwrap();
        assert_eq!(
            federation_key_id("ocid1.tenancy.oc1..t", &leaf.der),
            "ocid1.tenancy.oc1..t/fed-x509-sha256/64:84:7b:b9:1d:7f:b4:be:e2:46:d0:c0:28:9f:74:eb:db:0c:18:9a:42:9f:73:a3:d5:e1:52:75:be:d2:63:76"
        );
    }

    #[test]
    fn metadata_region_fields() {
        let m: InstanceMetadata = serde_json::from_str(
            r#"{"id":"ocid1.instance.x","region":"phx","canonicalRegionName":"us-phoenix-1",
                "regionInfo":{"realmKey":"oc1","realmDomainComponent":"oraclecloud.com","regionIdentifier":"us-phoenix-1","regionKey":"PHX"}}"#,
        )
        .unwrap();
        assert_eq!(m.region_id().as_deref(), Some("us-phoenix-1"));
        assert_eq!(m.realm_domain().as_deref(), Some("oraclecloud.com"));
        let m: InstanceMetadata = serde_json::from_str(r#"{"region":"phx"}"#).unwrap();
        assert_eq!(m.region_id().as_deref(), Some("phx"));
    }
}
