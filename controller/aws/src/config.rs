//! Client configuration and endpoint resolution.
//!
//! Data flow: the controller builds an [`AwsConfig`] from its own settings; `Ec2Client::new`
//! resolves the region (the config's, else aws-config's chain) and then the EC2 endpoint through
//! the pure [`ec2_endpoint`] (override, else `https://ec2.<region>.amazonaws.com`). `Debug`
//! never shows a secret.

use std::fmt;
use std::time::Duration;
use url::Url;

use crate::error::AwsError;

/// Where the credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// aws-config's default chain, in its order: environment variables, the profile files, web
    /// identity (IRSA: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), container credentials
    /// (EKS Pod Identity / ECS: `AWS_CONTAINER_CREDENTIALS_FULL_URI` +
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), then the IMDSv2 instance profile.
    DefaultChain,
    /// Fixed keys (tests, simulators).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key (never logged).
        secret_access_key: String,
        /// Session token of temporary credentials (never logged).
        session_token: Option<String>,
    },
}

impl fmt::Debug for CredentialsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsSource::DefaultChain => f.write_str("DefaultChain"),
            CredentialsSource::Static {
                access_key_id,
                session_token,
                ..
            } => f
                .debug_struct("Static")
                .field("access_key_id", &redact_key_id(access_key_id))
                .field("secret_access_key", &"<redacted>")
                .field(
                    "session_token",
                    &session_token.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
        }
    }
}

/// An access key id shortened to its first four characters (`AKIA…`): enough to tell long-term
/// from temporary keys in a log, not enough to name the key.
pub fn redact_key_id(id: &str) -> String {
    let head: String = id.chars().take(4).collect();
    format!("{head}…")
}

/// Everything `Ec2Client::new` needs.
#[derive(Clone)]
pub struct AwsConfig {
    /// Region (`eu-west-1`). `None`: aws-config's region chain (`AWS_REGION`, the profile, IMDS).
    pub region: Option<String>,
    /// EC2 endpoint override, e.g. `https://127.0.0.1:9444` for a simulator; default
    /// `https://ec2.<region>.amazonaws.com`.
    pub ec2_endpoint: Option<String>,
    /// Where the credentials come from.
    pub credentials: CredentialsSource,
    /// IMDS endpoint override (testbed), used for the region and instance-profile credentials.
    pub imds_endpoint: Option<String>,
    /// Extra CA certificates (PEM bundle) trusted for the EC2 endpoint, on top of the public roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Client-side rate limit shared by every call of this client (requests per second).
    pub rate_limit_per_sec: f64,
    /// Burst of the rate limit.
    pub burst: u32,
    /// Timeout of one HTTP attempt.
    pub call_timeout: Duration,
    /// How long to wait, after an assignment, for `DescribeNetworkInterfaces` to show the new
    /// owner (EC2 documents the remap as asynchronous).
    pub confirm_timeout: Duration,
    /// Attempts per call, the first included (default 5).
    pub max_attempts: u32,
    /// Backoff base between attempts (default 200 ms; doubled per retry, full jitter).
    pub backoff_base: Duration,
    /// Backoff cap (default 5 s).
    pub backoff_max: Duration,
}

impl AwsConfig {
    /// A configuration with the defaults: 5 requests/s, burst 10, 10 s per attempt, 20 s to
    /// confirm, 5 attempts with a 200 ms .. 5 s backoff.
    pub fn new(region: Option<String>, credentials: CredentialsSource) -> Self {
        AwsConfig {
            region,
            ec2_endpoint: None,
            credentials,
            imds_endpoint: None,
            extra_ca_pem: None,
            rate_limit_per_sec: 5.0,
            burst: 10,
            call_timeout: Duration::from_secs(10),
            confirm_timeout: Duration::from_secs(20),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("ec2_endpoint", &self.ec2_endpoint)
            .field("credentials", &self.credentials)
            .field("imds_endpoint", &self.imds_endpoint)
            .field(
                "extra_ca_pem_bytes",
                &self.extra_ca_pem.as_ref().map(Vec::len),
            )
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("burst", &self.burst)
            .field("call_timeout", &self.call_timeout)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The EC2 endpoint: `override_url` when given (it must be an absolute http(s) URL without
/// query), else `https://ec2.<region>.amazonaws.com/` (`.amazonaws.com.cn` in the China regions).
pub fn ec2_endpoint(region: &str, override_url: Option<&str>) -> Result<Url, AwsError> {
    if let Some(raw) = override_url.filter(|s| !s.trim().is_empty()) {
        let url = Url::parse(raw.trim())
            .map_err(|e| AwsError::Config(format!("EC2 endpoint {raw:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(AwsError::Config(format!(
                "EC2 endpoint {raw:?} must be an http(s) URL with a host"
            )));
        }
        if url.query().is_some() {
            return Err(AwsError::Config(format!(
                "EC2 endpoint {raw:?} must not have a query"
            )));
        }
        return Ok(url);
    }
    let valid = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(AwsError::Config(format!(
            "AWS region {region:?} is not valid (expected e.g. eu-west-1); set it or AWS_REGION"
        )));
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Url::parse(&format!("https://ec2.{region}.{suffix}/"))
        .map_err(|e| AwsError::Config(format!("bad EC2 endpoint for region {region}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = |r: &str, o: Option<&str>| ec2_endpoint(r, o).map(|u| u.to_string());
        assert_eq!(
            e("eu-west-1", None).unwrap(),
            "https://ec2.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            e("cn-north-1", None).unwrap(),
            "https://ec2.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            e("eu-west-1", Some("https://127.0.0.1:9444")).unwrap(),
            "https://127.0.0.1:9444/"
        );
        assert_eq!(
            e("", Some("http://localhost:5000/")).unwrap(),
            "http://localhost:5000/"
        );
        for (r, o) in [
            ("", None),
            ("EU-WEST-1", None),
            ("eu west", None),
            ("eu-west-1", Some("ftp://x")),
            ("eu-west-1", Some("not a url")),
            ("eu-west-1", Some("https://x/?a=b")),
        ] {
            assert_eq!(
                ec2_endpoint(r, o).unwrap_err().category(),
                "config",
                "{r} {o:?}"
            );
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut cfg = AwsConfig::new(
            Some("eu-west-1".into()),
            CredentialsSource::Static {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                session_token: Some("FwoGZXIvYXdzEXAMPLETOKEN".into()),
            },
        );
        cfg.extra_ca_pem = Some(b"-----BEGIN CERTIFICATE-----".to_vec());
        let text = format!("{cfg:?}");
        assert!(!text.contains("wJalr"), "{text}");
        assert!(!text.contains("FwoG"), "{text}");
        assert!(!text.contains("IOSFODNN7"), "{text}");
        assert!(text.contains("AKIA…"), "{text}");
        assert!(!text.contains("BEGIN"), "{text}");
        assert_eq!(
            format!("{:?}", CredentialsSource::DefaultChain),
            "DefaultChain"
        );
    }
}
