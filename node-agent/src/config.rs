//! Command-line flags and environment of the `pgvip-node-agent` binary.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::error::{Error, Result};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (default; for log collectors).
    Json,
    /// Human-readable text.
    Text,
}

/// pgvip node-agent: configures PostgresVip addresses on this node with netlink and
/// announces them with gratuitous ARP / unsolicited NA.
#[derive(Debug, Clone, Parser)]
#[command(name = "pgvip-node-agent", version)]
pub struct Args {
    /// This node's name (set from the downward API `spec.nodeName`).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,

    /// Namespaces to watch, comma-separated; empty watches all namespaces.
    #[arg(long, env = "PGVIP_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Seconds to keep addresses while the API server is unreachable before removing every
    /// pgvip address (fail closed). The default matches Patroni's default `ttl`.
    #[arg(long, env = "PGVIP_HOLD_SECONDS", default_value_t = 30)]
    pub hold_seconds: u64,

    /// Seconds between full reconciliations that repair drift (e.g. an address deleted by hand).
    #[arg(long, env = "PGVIP_RESYNC_SECONDS", default_value_t = 10)]
    pub resync_seconds: u64,

    /// Listen address of `/metrics`, `/healthz` and `/readyz`. The agent uses the host network,
    /// so this port is opened on the node; 9101 is the agent's default (the same port as the
    /// retired haproxy_exporter; change it if something else on the node uses it).
    #[arg(long, env = "PGVIP_METRICS_ADDR", default_value = "0.0.0.0:9101")]
    pub metrics_addr: SocketAddr,

    /// Log format.
    #[arg(long, env = "PGVIP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Remove every pgvip address on SIGTERM. Off by default: a plain restart (upgrade,
    /// eviction) must not take the VIP away from the primary; the next start reconciles.
    /// Turn on when uninstalling or draining nodes for good.
    #[arg(long, env = "PGVIP_RELEASE_ON_EXIT")]
    pub release_on_exit: bool,

    /// Namespace of this agent's heartbeat Lease (`pgvip-agent-<node>`), normally the agent's
    /// own namespace from the downward API. Without it no heartbeat is written and the
    /// controller's failover-readiness check reports this node's agent as not running.
    #[arg(long, env = "POD_NAMESPACE")]
    pub heartbeat_namespace: Option<String>,

    /// Seconds between heartbeat renewals; the Lease is valid for three periods.
    #[arg(long, env = "PGVIP_HEARTBEAT_SECONDS", default_value_t = 10)]
    pub heartbeat_seconds: u64,
}

impl Args {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<()> {
        if self.node_name.trim().is_empty() {
            return Err(Error::Config(
                "--node-name / NODE_NAME must not be empty".into(),
            ));
        }
        if !(1..=3600).contains(&self.hold_seconds) {
            return Err(Error::Config(
                "--hold-seconds must be between 1 and 3600".into(),
            ));
        }
        if !(1..=3600).contains(&self.resync_seconds) {
            return Err(Error::Config(
                "--resync-seconds must be between 1 and 3600".into(),
            ));
        }
        Ok(())
    }

    /// Watch scopes: each namespace, or `[None]` for all namespaces.
    pub fn scopes(&self) -> Vec<Option<String>> {
        let mut ns: Vec<String> = self
            .namespaces
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        ns.sort();
        ns.dedup();
        if ns.is_empty() {
            vec![None]
        } else {
            ns.into_iter().map(Some).collect()
        }
    }

    /// `--heartbeat-seconds` as a duration.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_seconds.max(1))
    }

    /// `--hold-seconds` as a duration.
    pub fn hold(&self) -> Duration {
        Duration::from_secs(self.hold_seconds)
    }

    /// `--resync-seconds` as a duration.
    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.resync_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("pgvip-node-agent").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn defaults() {
        let a = parse(&["--node-name", "w1"]);
        assert_eq!(a.hold(), Duration::from_secs(30));
        assert_eq!(a.resync(), Duration::from_secs(10));
        assert_eq!(a.metrics_addr.to_string(), "0.0.0.0:9101");
        assert_eq!(a.log_format, LogFormat::Json);
        assert!(!a.release_on_exit);
        assert_eq!(a.scopes(), vec![None]);
        a.validate().unwrap();
    }

    #[test]
    fn namespaces_are_split_and_deduplicated() {
        let a = parse(&["--node-name", "w1", "--namespaces", "db, ops,db,"]);
        assert_eq!(a.scopes(), vec![Some("db".into()), Some("ops".into())]);
    }

    #[test]
    fn ranges_are_checked() {
        assert!(parse(&["--node-name", "w1", "--hold-seconds", "0"])
            .validate()
            .is_err());
        assert!(parse(&["--node-name", "w1", "--resync-seconds", "0"])
            .validate()
            .is_err());
        assert!(parse(&["--node-name", " "]).validate().is_err());
    }
}
