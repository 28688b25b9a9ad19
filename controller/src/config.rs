//! Command-line flags and environment variables (shaped for a Helm chart: every flag has an
//! `PGVIP_*` / `OCI_*` variable).
//!
//! Data flow: `main` parses [`Config`]; [`crate::run`] builds the cloud provider, prober,
//! lease and controller settings from it. Secrets are never flags: only paths to files
//! (mounted from Secrets) are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Which cloud moves the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CloudKind {
    /// Oracle Cloud Infrastructure (secondary private IP moved between VNICs).
    Oci,
    /// Amazon EC2 / EKS (secondary private IP moved between network interfaces).
    Aws,
    /// One layer-2 segment, no cloud call (bare metal): PostgresVips set `spec.provider.l2`.
    L2,
    /// No cloud call whatever the PostgresVip's provider block says: the negative control of
    /// the test suites (it reproduces the stale route the cloud move fixes). Not for production.
    None,
}

/// How the controller authenticates to OCI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OciAuthMode {
    /// API key: tenancy, user, fingerprint and a PEM private key file.
    ApiKey,
    /// Instance principal (IMDS certificates → federation → session token).
    InstancePrincipal,
    /// OKE workload identity (service-account token → resource principal session token).
    WorkloadIdentity,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// OCI settings (mirroring `pgvip_oci::OciConfig`).
#[derive(Clone, Debug, clap::Args)]
pub struct OciArgs {
    /// OCI authentication mode.
    #[arg(
        long = "oci-auth",
        env = "OCI_AUTH",
        value_enum,
        default_value = "workload-identity"
    )]
    pub auth: OciAuthMode,
    /// Region identifier, e.g. eu-frankfurt-1 (default: from IMDS / the resource principal).
    #[arg(long = "oci-region", env = "OCI_REGION")]
    pub region: Option<String>,
    /// Tenancy OCID (api-key mode).
    #[arg(long = "oci-tenancy", env = "OCI_TENANCY")]
    pub tenancy: Option<String>,
    /// User OCID (api-key mode).
    #[arg(long = "oci-user", env = "OCI_USER")]
    pub user: Option<String>,
    /// API key fingerprint (api-key mode).
    #[arg(long = "oci-fingerprint", env = "OCI_FINGERPRINT")]
    pub fingerprint: Option<String>,
    /// Path of the PEM private key (api-key mode), mounted from a Secret.
    #[arg(long = "oci-private-key-file", env = "OCI_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,
    /// Path of a file holding the private key's passphrase, if it has one.
    #[arg(
        long = "oci-private-key-passphrase-file",
        env = "OCI_PRIVATE_KEY_PASSPHRASE_FILE"
    )]
    pub private_key_passphrase_file: Option<PathBuf>,
    /// Realm domain (default oraclecloud.com, or from IMDS for instance principals).
    #[arg(long = "oci-realm-domain", env = "OCI_REALM_DOMAIN")]
    pub realm_domain: Option<String>,
    /// Override of the Core Services endpoint (e.g. https://iaas.eu-frankfurt-1.oraclecloud.com).
    #[arg(long = "oci-core-endpoint", env = "OCI_CORE_ENDPOINT")]
    pub core_endpoint: Option<String>,
    /// Override of the instance metadata service base URL (instance principal).
    #[arg(long = "oci-imds-endpoint", env = "OCI_IMDS_ENDPOINT")]
    pub imds_endpoint: Option<String>,
    /// Override of the federation (auth) endpoint (instance principal).
    #[arg(long = "oci-federation-endpoint", env = "OCI_FEDERATION_ENDPOINT")]
    pub federation_endpoint: Option<String>,
    /// Override of the OKE proxymux endpoint for workload identity (default: KUBERNETES_SERVICE_HOST:12250).
    #[arg(
        long = "oci-workload-identity-endpoint",
        env = "OCI_WORKLOAD_IDENTITY_ENDPOINT"
    )]
    pub workload_identity_endpoint: Option<String>,
    /// Service-account token path (workload identity).
    #[arg(
        long = "oci-service-account-token-file",
        env = "OCI_SERVICE_ACCOUNT_TOKEN_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    pub service_account_token_file: PathBuf,
    /// CA of the OKE proxymux certificate (workload identity).
    #[arg(
        long = "oci-service-account-ca-file",
        env = "OCI_SERVICE_ACCOUNT_CA_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    )]
    pub service_account_ca_file: PathBuf,
    /// Extra PEM CA bundle trusted for OCI endpoints (private endpoints, simulators).
    #[arg(long = "oci-ca-bundle", env = "OCI_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Client-side rate limit of OCI calls, requests per second.
    #[arg(
        long = "oci-rate-limit",
        env = "OCI_RATE_LIMIT",
        default_value_t = 10.0
    )]
    pub rate_limit: f64,
    /// Burst allowed above the rate limit.
    #[arg(long = "oci-rate-burst", env = "OCI_RATE_BURST", default_value_t = 20)]
    pub rate_burst: u32,
}

/// AWS settings (mirroring `pgvip_aws::AwsConfig`). Credentials come from AWS's default chain
/// (environment, IRSA web identity, EKS Pod Identity, the instance profile through IMDSv2),
/// never from flags; the variables are the ones AWS's SDKs read.
#[derive(Clone, Debug, clap::Args)]
pub struct AwsArgs {
    /// Region, e.g. eu-west-1 (default: the AWS region chain: environment, profile, IMDS).
    #[arg(id = "aws_region", long = "aws-region", env = "AWS_REGION")]
    pub region: Option<String>,
    /// Override of the EC2 endpoint (VPC endpoints, simulators).
    #[arg(
        id = "aws_ec2_endpoint",
        long = "aws-ec2-endpoint",
        env = "AWS_ENDPOINT_URL_EC2"
    )]
    pub ec2_endpoint: Option<String>,
    /// Override of the instance metadata service (region and instance-profile credentials).
    #[arg(
        id = "aws_imds_endpoint",
        long = "aws-imds-endpoint",
        env = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
    )]
    pub imds_endpoint: Option<String>,
    /// Extra PEM CA bundle trusted for the EC2 endpoint.
    #[arg(id = "aws_ca_bundle", long = "aws-ca-bundle", env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// Client-side rate limit of EC2 calls, requests per second (EC2 throttles per account and
    /// region, shared with every other tool of the account).
    #[arg(
        id = "aws_rate_limit",
        long = "aws-rate-limit",
        env = "PGVIP_AWS_RATE_LIMIT",
        default_value_t = 5.0
    )]
    pub rate_limit: f64,
    /// Burst allowed above the rate limit.
    #[arg(
        id = "aws_rate_burst",
        long = "aws-rate-burst",
        env = "PGVIP_AWS_RATE_BURST",
        default_value_t = 10
    )]
    pub rate_burst: u32,
}

/// pgvip controller settings.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "pgvip-controller",
    version,
    about = "Keeps PostgreSQL VIPs on the confirmed Patroni leader"
)]
pub struct Config {
    /// Cloud that must assign the address to the holder's VNIC.
    #[arg(long, env = "PGVIP_CLOUD_PROVIDER", value_enum, default_value = "oci")]
    pub cloud_provider: CloudKind,

    /// OCI settings.
    #[command(flatten)]
    pub oci: OciArgs,

    /// AWS settings.
    #[command(flatten)]
    pub aws: AwsArgs,

    /// Namespaces to watch, comma separated; empty watches all namespaces.
    #[arg(long, env = "PGVIP_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Address of the metrics and health server (/metrics, /healthz, /readyz).
    #[arg(long, env = "PGVIP_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,

    /// Log format.
    #[arg(long, env = "PGVIP_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,

    /// Run leader election (turn off only for a single replica in development).
    #[arg(long, env = "PGVIP_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// Name of the coordination.k8s.io Lease.
    #[arg(
        long,
        env = "PGVIP_LEADER_ELECTION_NAME",
        default_value = "pgvip-controller"
    )]
    pub leader_election_name: String,
    /// Namespace of the Lease (default: POD_NAMESPACE, else `default`).
    #[arg(long, env = "PGVIP_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Lease duration in seconds: a standby takes over this long after the holder stops renewing.
    #[arg(long, env = "PGVIP_LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Renew interval in seconds; the holder stops acting when it has not renewed for
    /// (duration − renew) seconds.
    #[arg(long, env = "PGVIP_LEASE_RENEW_SECONDS", default_value_t = 5)]
    pub lease_renew_seconds: u64,

    /// PostgresVips reconciled at the same time (one slow cloud call never blocks the others).
    #[arg(long, env = "PGVIP_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Timeout of the lock holder's REST check and of the data-path check, milliseconds.
    #[arg(long, env = "PGVIP_REST_TIMEOUT_MS", default_value_t = 2000)]
    pub rest_timeout_ms: u64,
    /// Timeout of the other members' REST checks (second-primary detection), milliseconds.
    #[arg(long, env = "PGVIP_PEER_TIMEOUT_MS", default_value_t = 500)]
    pub peer_timeout_ms: u64,
    /// How long to wait for the node-agent's report before AddressConfigured=False/AgentTimeout.
    #[arg(long, env = "PGVIP_ANNOUNCE_TIMEOUT_SECONDS", default_value_t = 15)]
    pub announce_timeout_seconds: u64,
    /// Verify the data path with a request through the VIP before Ready=True.
    #[arg(long, env = "PGVIP_VERIFY_DATA_PATH", default_value_t = true, action = clap::ArgAction::Set)]
    pub verify_data_path: bool,
    /// Re-check every VIP at least this often, seconds.
    #[arg(long, env = "PGVIP_RESYNC_SECONDS", default_value_t = 30)]
    pub resync_seconds: u64,
    /// Seconds between data-path checks of a Ready VIP (a request through the address to the
    /// confirmed member): `DataPathVerified` turns False within two periods of the address
    /// no longer reaching the primary, even when nothing else changed.
    #[arg(long, env = "PGVIP_DATA_PATH_INTERVAL_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub data_path_interval_seconds: u64,
    /// Seconds between failover-readiness checks of each PostgresVip (they also run when the
    /// spec or the member set changes); 0 turns the checks off. Each check costs about
    /// 2 + (candidate nodes x 3) cloud reads and one no-op update.
    #[arg(long, env = "PGVIP_READINESS_INTERVAL_SECONDS", default_value_t = 300)]
    pub readiness_interval_seconds: u64,
    /// Namespace of the node-agents' heartbeat Leases (default: the leader-election namespace).
    #[arg(long, env = "PGVIP_AGENT_NAMESPACE")]
    pub agent_namespace: Option<String>,
}

impl Config {
    /// REST timeout.
    pub fn rest_timeout(&self) -> Duration {
        Duration::from_millis(self.rest_timeout_ms)
    }

    /// Peer REST timeout.
    pub fn peer_timeout(&self) -> Duration {
        Duration::from_millis(self.peer_timeout_ms)
    }

    /// Lease namespace: the flag, else `POD_NAMESPACE`, else `default`.
    pub fn lease_namespace(&self) -> String {
        self.leader_election_namespace
            .clone()
            .or_else(|| {
                std::env::var("POD_NAMESPACE")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "default".to_string())
    }

    /// Agents' namespace: the flag, else the Lease namespace.
    pub fn agent_namespace(&self) -> String {
        self.agent_namespace
            .clone()
            .unwrap_or_else(|| self.lease_namespace())
    }

    /// Checks combinations clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_renew_seconds == 0 || self.lease_renew_seconds >= self.lease_duration_seconds
        {
            return Err("--lease-renew-seconds must be > 0 and < --lease-duration-seconds".into());
        }
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.cloud_provider == CloudKind::Oci && self.oci.auth == OciAuthMode::ApiKey {
            let o = &self.oci;
            if o.tenancy.is_none()
                || o.user.is_none()
                || o.fingerprint.is_none()
                || o.private_key_file.is_none()
            {
                return Err("--oci-auth api-key needs --oci-tenancy, --oci-user, --oci-fingerprint and --oci-private-key-file".into());
            }
        }
        if self.aws.rate_limit.is_nan() || self.aws.rate_limit <= 0.0 {
            return Err("--aws-rate-limit must be a positive number".into());
        }
        if self.oci.rate_limit.is_nan() || self.oci.rate_limit <= 0.0 {
            return Err("--oci-rate-limit must be positive".into());
        }
        Ok(())
    }
}

/// This replica's identity for leader election: `POD_NAME`, else hostname and pid.
pub fn identity() -> String {
    if let Ok(p) = std::env::var("POD_NAME") {
        if !p.is_empty() {
            return p;
        }
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown-host".to_string());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_namespaces() {
        let c = Config::try_parse_from([
            "pgvip-controller",
            "--cloud-provider",
            "none",
            "--namespaces",
            "db,db2",
        ])
        .unwrap();
        assert_eq!(c.cloud_provider, CloudKind::None);
        assert_eq!(c.namespaces, vec!["db", "db2"]);
        assert_eq!(c.lease_duration_seconds, 15);
        assert_eq!(c.lease_renew_seconds, 5);
        assert!(c.leader_election && c.verify_data_path);
        c.validate().unwrap();
    }

    #[test]
    fn api_key_mode_needs_its_settings() {
        let c = Config::try_parse_from(["pgvip-controller", "--oci-auth", "api-key"]).unwrap();
        assert!(c.validate().is_err());
        let c = Config::try_parse_from([
            "pgvip-controller",
            "--oci-auth",
            "api-key",
            "--oci-tenancy",
            "t",
            "--oci-user",
            "u",
            "--oci-fingerprint",
            "f",
            "--oci-private-key-file",
            "/k.pem",
        ])
        .unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn renew_must_be_shorter_than_duration() {
        let c =
            Config::try_parse_from(["pgvip-controller", "--lease-renew-seconds", "15"]).unwrap();
        assert!(c.validate().is_err());
    }
}
