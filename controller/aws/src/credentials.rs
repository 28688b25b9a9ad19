//! Region and credentials: AWS's own chains from `aws-config`, and a small cache in front.
//!
//! Data flow: [`resolve`] builds aws-config's HTTP client (hyper + rustls with ring, so no
//! aws-lc; the platform's roots plus the configured extra CA bundle, so STS behind a private
//! endpoint such as a simulator's is trusted as EC2 is), its IMDS client (the configured endpoint or the default), the region (the config's,
//! else environment → profile → IMDS) and the credentials provider (fixed keys, or the default
//! chain: environment → profile → web identity/IRSA → container/Pod Identity → IMDSv2). The
//! transport asks [`CredentialCache::get`] before each attempt; it loads once and reuses the
//! credentials until five minutes before they expire (fifteen minutes when they carry no
//! expiry), and [`CredentialCache::invalidate`] forgets them when EC2 rejects them. Only the
//! access key id's first characters are ever logged.

use std::time::{Duration, Instant, SystemTime};

use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::region::ProfileFileRegionProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};

use crate::config::{redact_key_id, AwsConfig, CredentialsSource};
use crate::error::AwsError;

/// Refresh this long before the credentials expire.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);
/// Reload credentials without an expiry (environment, profile) this often.
const REUSE_WITHOUT_EXPIRY: Duration = Duration::from_secs(900);

/// The resolved region and credentials provider.
pub(crate) struct Resolved {
    /// Region to sign for and to derive the endpoint from.
    pub region: String,
    /// The provider behind the cache.
    pub provider: SharedCredentialsProvider,
    /// `static` or `default-chain`, for logs.
    pub kind: &'static str,
}

/// aws-config's HTTP client (STS for web identity, the container credentials endpoint, IMDS):
/// the platform's roots plus `extra_ca_pem`, whose certificates must parse (aws-config would
/// panic on a bad one when it connects).
fn provider_http_client(
    extra_ca_pem: Option<&[u8]>,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, AwsError> {
    let mut trust = TrustStore::default();
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| AwsError::Config(format!("CA bundle is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(AwsError::Config("CA bundle holds no certificate".into()));
        }
        trust = trust.with_pem_certificate(pem.to_vec());
    }
    let tls_context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| AwsError::Config(format!("TLS settings for aws-config: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls_context)
        .build_https())
}

/// Builds the region and the credentials provider for `cfg`.
pub(crate) async fn resolve(cfg: &AwsConfig) -> Result<Resolved, AwsError> {
    let http = provider_http_client(cfg.extra_ca_pem.as_deref())?;
    let conf = ProviderConfig::default().with_http_client(http);
    let mut imds = aws_config::imds::Client::builder().configure(&conf);
    if let Some(endpoint) = cfg.imds_endpoint.as_deref().filter(|e| !e.is_empty()) {
        imds = imds.endpoint(endpoint).map_err(|e| {
            AwsError::Config(format!("IMDS endpoint {endpoint:?} is not valid: {e}"))
        })?;
    }
    let imds = imds.build();
    let region = match cfg.region.clone().filter(|r| !r.is_empty()) {
        Some(r) => r,
        None => RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
            .or_else(
                ProfileFileRegionProvider::builder()
                    .configure(&conf)
                    .build(),
            )
            .or_else(
                ImdsRegionProvider::builder()
                    .imds_client(imds.clone())
                    .build(),
            )
            .region()
            .await
            .map(|r| r.to_string())
            .ok_or_else(|| {
                AwsError::Config(
                    "no AWS region: set it in the configuration or AWS_REGION (IMDS did not answer)"
                        .into(),
                )
            })?,
    };
    let (provider, kind) = match &cfg.credentials {
        CredentialsSource::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => (
            SharedCredentialsProvider::new(Credentials::new(
                access_key_id,
                secret_access_key,
                session_token.clone(),
                None,
                "pgvip-static",
            )),
            "static",
        ),
        CredentialsSource::DefaultChain => {
            let chain =
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .configure(conf.clone().with_region(Some(Region::new(region.clone()))))
                    .region(Region::new(region.clone()))
                    .imds_client(imds)
                    .build()
                    .await;
            (SharedCredentialsProvider::new(chain), "default-chain")
        }
    };
    Ok(Resolved {
        region,
        provider,
        kind,
    })
}

/// Pure: whether credentials loaded at `loaded_at` with `expiry` must be reloaded at
/// (`now`, `now_instant`).
pub fn needs_refresh(
    expiry: Option<SystemTime>,
    loaded_at: Instant,
    now: SystemTime,
    now_instant: Instant,
) -> bool {
    match expiry {
        Some(exp) => now + REFRESH_BEFORE_EXPIRY >= exp,
        None => now_instant.saturating_duration_since(loaded_at) >= REUSE_WITHOUT_EXPIRY,
    }
}

/// Maps a provider failure to an [`AwsError`] with what to check.
pub fn map_credentials_error(e: &CredentialsError, after: Duration) -> AwsError {
    let detail = error_chain(e);
    match e {
        CredentialsError::ProviderTimedOut(_) => AwsError::Timeout {
            operation: "LoadCredentials",
            after,
        },
        CredentialsError::CredentialsNotLoaded(_) => AwsError::Auth {
            message: format!("no AWS credentials found ({detail}); give the controller's service account an IAM role (IRSA or EKS Pod Identity) or the node an instance profile"),
            request_id: None,
        },
        CredentialsError::InvalidConfiguration(_) => {
            AwsError::Config(format!("AWS credentials configuration is invalid: {detail}"))
        }
        _ => AwsError::Auth {
            message: format!("cannot load AWS credentials: {detail}"),
            request_id: None,
        },
    }
}

/// `e: source: source...`, for errors whose `Display` hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// The credentials cache shared by all calls of a client.
pub(crate) struct CredentialCache {
    provider: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<(Credentials, Instant)>>,
    load_timeout: Duration,
}

impl CredentialCache {
    /// A cache in front of `provider`; one load may take `load_timeout`.
    pub fn new(provider: SharedCredentialsProvider, load_timeout: Duration) -> Self {
        CredentialCache {
            provider,
            cached: tokio::sync::Mutex::new(None),
            load_timeout,
        }
    }

    /// Valid credentials, loading them when none are cached or they are about to expire.
    /// Concurrent callers wait for one load.
    pub async fn get(&self) -> Result<Credentials, AwsError> {
        let mut cached = self.cached.lock().await;
        if let Some((c, at)) = cached.as_ref() {
            if !needs_refresh(c.expiry(), *at, SystemTime::now(), Instant::now()) {
                return Ok(c.clone());
            }
        }
        let loaded = tokio::time::timeout(self.load_timeout, self.provider.provide_credentials())
            .await
            .map_err(|_| AwsError::Timeout {
                operation: "LoadCredentials",
                after: self.load_timeout,
            })?
            .map_err(|e| {
                let err = map_credentials_error(&e, self.load_timeout);
                tracing::warn!(category = err.category(), error = %err, "loading AWS credentials failed");
                err
            })?;
        tracing::info!(
            access_key_id = %redact_key_id(loaded.access_key_id()),
            temporary = loaded.session_token().is_some(),
            expires_in_s = loaded
                .expiry()
                .and_then(|e| e.duration_since(SystemTime::now()).ok())
                .map(|d| d.as_secs()),
            "AWS credentials loaded"
        );
        *cached = Some((loaded.clone(), Instant::now()));
        Ok(loaded)
    }

    /// Forgets the cached credentials (EC2 rejected them).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_table() {
        let now = SystemTime::now();
        let t0 = Instant::now();
        let m = |s: u64| Duration::from_secs(s);
        let cases = [
            (Some(now + m(3600)), t0, t0 + m(10), false),
            (Some(now + m(301)), t0, t0, false),
            (Some(now + m(300)), t0, t0, true),
            (Some(now - m(1)), t0, t0, true),
            (None, t0, t0 + m(60), false),
            (None, t0, t0 + m(900), true),
        ];
        for (expiry, loaded, now_i, want) in cases {
            assert_eq!(
                needs_refresh(expiry, loaded, now, now_i),
                want,
                "{expiry:?}"
            );
        }
    }

    #[test]
    fn provider_errors_map_to_categories() {
        let t = Duration::from_secs(5);
        assert_eq!(
            map_credentials_error(&CredentialsError::not_loaded("none"), t).category(),
            "auth"
        );
        assert_eq!(
            map_credentials_error(&CredentialsError::provider_timed_out(t), t).category(),
            "timeout"
        );
        assert_eq!(
            map_credentials_error(&CredentialsError::invalid_configuration("loop"), t).category(),
            "config"
        );
        assert_eq!(
            map_credentials_error(&CredentialsError::provider_error("503 from STS"), t).category(),
            "auth"
        );
    }

    #[tokio::test]
    async fn a_ca_bundle_without_certificates_is_a_config_error() {
        let mut cfg = AwsConfig::new(Some("eu-west-1".into()), CredentialsSource::DefaultChain);
        cfg.imds_endpoint = Some("http://127.0.0.1:1".into());
        for pem in [&b"not pem"[..], b""] {
            cfg.extra_ca_pem = Some(pem.to_vec());
            let err = resolve(&cfg).await.err().map(|e| e.category());
            assert_eq!(err, Some("config"), "{pem:?}");
        }
    }

    #[tokio::test]
    async fn static_credentials_are_cached() {
        let mut cfg = AwsConfig::new(
            Some("eu-west-1".into()),
            CredentialsSource::Static {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "secret".into(),
                session_token: None,
            },
        );
        cfg.imds_endpoint = Some("http://127.0.0.1:1".into());
        let r = resolve(&cfg).await.unwrap();
        assert_eq!((r.region.as_str(), r.kind), ("eu-west-1", "static"));
        let cache = CredentialCache::new(r.provider, Duration::from_secs(1));
        assert_eq!(cache.get().await.unwrap().access_key_id(), "AKIDEXAMPLE");
        cache.invalidate().await;
        assert_eq!(cache.get().await.unwrap().secret_access_key(), "secret");
    }
}
