//! Client configuration and endpoint resolution.
//!
//! Data flow: the controller builds an [`OciConfig`] from its own settings; `OciClient::new`
//! resolves every endpoint through the pure functions here (override, else derived from region
//! and realm domain).

use std::path::PathBuf;
use std::time::Duration;
use url::Url;

use crate::error::OciError;

/// Default realm domain (realm `oc1`).
pub const DEFAULT_REALM_DOMAIN: &str = "oraclecloud.com";
/// Default instance metadata service.
pub const DEFAULT_IMDS_URL: &str = "http://169.254.169.254";
/// Default service-account token path (workload identity).
pub const DEFAULT_SA_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Default service-account CA path (workload identity proxymux trust).
pub const DEFAULT_SA_CA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// How the client authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// User API key. The key file is re-read when it changes (mounted Secret rotation).
    ApiKey {
        /// Tenancy OCID.
        tenancy: String,
        /// User OCID.
        user: String,
        /// API key fingerprint (`aa:bb:...`, MD5 of the public key).
        fingerprint: String,
        /// Path of the PEM private key (PKCS#1, PKCS#8 or encrypted PKCS#8).
        key_path: PathBuf,
        /// Path of a file holding the key's passphrase, if encrypted.
        passphrase_path: Option<PathBuf>,
    },
    /// Instance principal: IMDS certificates exchanged for a session token.
    InstancePrincipal {
        /// IMDS base URL (default `http://169.254.169.254`).
        imds_url: Option<String>,
        /// Federation base URL (default `https://auth.{region}.{realm domain}`).
        federation_url: Option<String>,
    },
    /// OKE workload identity: service-account token exchanged at the proxymux.
    WorkloadIdentity {
        /// Service-account token file, re-read at each refresh.
        token_path: PathBuf,
        /// CA that signs the proxymux certificate (the service-account `ca.crt`).
        ca_path: PathBuf,
        /// Token endpoint (default `https://$KUBERNETES_SERVICE_HOST:12250/resourcePrincipalSessionTokens`).
        endpoint: Option<String>,
    },
}

impl AuthConfig {
    /// Workload identity with the standard in-pod paths.
    pub fn workload_identity_default() -> Self {
        AuthConfig::WorkloadIdentity {
            token_path: DEFAULT_SA_TOKEN_PATH.into(),
            ca_path: DEFAULT_SA_CA_PATH.into(),
            endpoint: None,
        }
    }
}

/// Everything `OciClient::new` needs.
#[derive(Debug, Clone)]
pub struct OciConfig {
    /// Region identifier (`us-phoenix-1`). Optional only for instance principals (read from IMDS).
    pub region: Option<String>,
    /// Realm domain (default `oraclecloud.com`; from IMDS for instance principals when unset).
    pub realm_domain: Option<String>,
    /// Core Services base URL override (default `https://iaas.{region}.{realm domain}`).
    pub iaas_endpoint: Option<String>,
    /// Extra CA certificates (PEM bundle) trusted for OCI endpoints, on top of the public roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Authentication.
    pub auth: AuthConfig,
    /// Client-side rate limit shared by every call of this client (requests per second).
    pub rate_limit_per_sec: f64,
    /// Token-bucket burst.
    pub burst: u32,
    /// Most requests this client has on the wire at once (a burst of concurrent moves queues
    /// here instead of opening one TLS connection per request).
    pub max_in_flight: usize,
    /// Timeout of one HTTP attempt.
    pub call_timeout: Duration,
    /// Overall budget of one `ensure_assigned` (all calls and retries).
    pub move_deadline: Duration,
    /// Attempts per call (first try included) for retryable failures.
    pub max_attempts: u32,
    /// Backoff base (first retry waits up to this long).
    pub backoff_base: Duration,
    /// Backoff cap.
    pub backoff_max: Duration,
}

impl OciConfig {
    /// A config with sensible defaults around `auth` and `region`.
    pub fn new(region: Option<String>, auth: AuthConfig) -> Self {
        OciConfig {
            region,
            realm_domain: None,
            iaas_endpoint: None,
            extra_ca_pem: None,
            auth,
            rate_limit_per_sec: 10.0,
            burst: 20,
            max_in_flight: 16,
            call_timeout: Duration::from_secs(10),
            move_deadline: Duration::from_secs(60),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(8),
        }
    }
}

/// Parses a base URL, dropping any trailing slash so paths can be appended.
pub fn parse_base_url(what: &str, s: &str) -> Result<Url, OciError> {
    let trimmed = s.trim().trim_end_matches('/');
    let url =
        Url::parse(trimmed).map_err(|e| OciError::Config(format!("{what} URL {s:?}: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(OciError::Config(format!(
            "{what} URL {s:?}: scheme must be http or https"
        )));
    }
    if url.host_str().is_none() {
        return Err(OciError::Config(format!("{what} URL {s:?} has no host")));
    }
    Ok(url)
}

/// `https://{service}.{region}.{domain}` unless overridden.
pub fn service_endpoint(
    service: &str,
    region: &str,
    domain: &str,
    override_url: Option<&str>,
) -> Result<Url, OciError> {
    match override_url {
        Some(u) => parse_base_url(service, u),
        None => {
            if region.is_empty() {
                return Err(OciError::Config(format!("{service}: no region configured")));
            }
            parse_base_url(service, &format!("https://{service}.{region}.{domain}"))
        }
    }
}

/// Default proxymux endpoint from `KUBERNETES_SERVICE_HOST` (IPv6 hosts get brackets).
pub fn workload_identity_endpoint(service_host: Option<&str>) -> Result<Url, OciError> {
    let host = service_host.filter(|h| !h.is_empty()).ok_or_else(|| {
        OciError::Config(
            "workload identity: KUBERNETES_SERVICE_HOST is not set and no endpoint is configured"
                .into(),
        )
    })?;
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    parse_base_url(
        "workload identity",
        &format!("https://{host}:12250/resourcePrincipalSessionTokens"),
    )
}

/// Appends `path` (starting with `/`) to a base URL that may itself carry a path prefix.
pub fn join(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}{path}"));
    u.set_query(None);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_derived_or_overridden() {
        let u = service_endpoint("iaas", "us-phoenix-1", DEFAULT_REALM_DOMAIN, None).unwrap();
        assert_eq!(u.as_str(), "https://iaas.us-phoenix-1.oraclecloud.com/");
        let u = service_endpoint("auth", "eu-frankfurt-1", "oraclecloud.eu", None).unwrap();
        assert_eq!(u.as_str(), "https://auth.eu-frankfurt-1.oraclecloud.eu/");
        let u = service_endpoint("iaas", "", "x", Some("https://127.0.0.1:8443/")).unwrap();
        assert_eq!(u.as_str(), "https://127.0.0.1:8443/");
        assert!(service_endpoint("iaas", "", DEFAULT_REALM_DOMAIN, None).is_err());
        assert!(service_endpoint("iaas", "r", "d", Some("ftp://x")).is_err());
    }

    #[test]
    fn join_keeps_prefix() {
        let base = parse_base_url("x", "https://127.0.0.1:8443/sim/").unwrap();
        assert_eq!(
            join(&base, "/20160918/vnics/a").as_str(),
            "https://127.0.0.1:8443/sim/20160918/vnics/a"
        );
        let base = parse_base_url("x", "https://h").unwrap();
        assert_eq!(join(&base, "/v1/x509").as_str(), "https://h/v1/x509");
    }

    #[test]
    fn proxymux_endpoint_from_service_host() {
        assert_eq!(
            workload_identity_endpoint(Some("10.96.0.1"))
                .unwrap()
                .as_str(),
            "https://10.96.0.1:12250/resourcePrincipalSessionTokens"
        );
        assert_eq!(
            workload_identity_endpoint(Some("fd00::1"))
                .unwrap()
                .as_str(),
            "https://[fd00::1]:12250/resourcePrincipalSessionTokens"
        );
        assert!(workload_identity_endpoint(None).is_err());
    }
}
