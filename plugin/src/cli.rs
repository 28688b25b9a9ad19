//! The command line, shaped like kubectl's: the connection flags (`--kubeconfig`, `--context`,
//! `-n`, `-A`) are global, so they go before or after the subcommand.
//!
//! Data flow: `clap` parses argv into [`Cli`]; [`crate::run`] dispatches on [`Command`].

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `kubectl pgvip`: where each PostgreSQL VIP is, why one is not Ready, and failover drills.
#[derive(Debug, Parser)]
#[command(name = "kubectl-pgvip", bin_name = "kubectl pgvip", version)]
pub struct Cli {
    /// How to reach the cluster.
    #[command(flatten)]
    pub conn: Connection,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's connection flags. Without `--kubeconfig`, the KUBECONFIG variable (a list of files,
/// merged) or `~/.kube/config` is read, then the in-cluster service account.
#[derive(Debug, Args, Clone, Default)]
pub struct Connection {
    /// Path to the kubeconfig file to use.
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace; default: the context's namespace, else `default`.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// List PostgresVips in every namespace (`status` without a name).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A table of PostgresVips; with NAME, every condition, the last failover and its phases.
    Status {
        /// One PostgresVip for the detailed view.
        name: Option<String>,
        /// Print the objects as the apiserver has them instead.
        #[arg(short = 'o', long, value_enum)]
        output: Option<Output>,
    },
    /// Each condition of NAME that is not True, its reason and message, and the fix from the
    /// troubleshooting guide. Exits 0 when all are True, 1 otherwise.
    Why {
        /// The PostgresVip.
        name: String,
    },
    /// Runs a failover drill of NAME: creates a PostgresVipDrill, waits for its result and
    /// prints it (from, to, the outage measured through the VIP, pgvip's phases). Exits 0 when
    /// the objective was met, 1 when the drill failed or was refused.
    Drill(DrillArgs),
}

/// The options of `drill`: the PostgresVipDrill's spec.
#[derive(Debug, Args, Clone)]
pub struct DrillArgs {
    /// The PostgresVip.
    pub name: String,
    /// The objective: the largest acceptable write outage, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub max_outage_seconds: f64,
    /// Member to switch over to (default: the healthy replica with the least lag).
    #[arg(long, value_name = "MEMBER")]
    pub candidate: Option<String>,
    /// Secret with `username`/`password` (and optionally `database`) for a write probe through
    /// the VIP; without it the drill probes Patroni's `GET /primary` through the VIP.
    #[arg(long, value_name = "SECRET")]
    pub probe_secret: Option<String>,
    /// PostgreSQL port of the write probe.
    #[arg(long, default_value_t = 5432, value_name = "PORT")]
    pub probe_port: u16,
    /// Secret with `username`/`password` for Patroni's REST API basic authentication.
    #[arg(long, value_name = "SECRET")]
    pub patroni_auth_secret: Option<String>,
    /// How long the drill waits for writes to resume after asking for the switchover.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout_seconds: u32,
    /// Create the drill, print its name and return without waiting.
    #[arg(long)]
    pub no_wait: bool,
}

/// Raw output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// JSON, as `kubectl get -o json`.
    Json,
    /// YAML, as `kubectl get -o yaml`.
    Yaml,
}
